"""IPython history never holds a secret: prompts, magic lines, retrievals, the panel.

A real kernel with its own IPYTHONDIR runs a session the way a person would; after it
shuts down (so every history write has landed), ``history.sqlite`` is read as bytes.
"""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.kernels import kernel_env, running_kernel

ENV_SECRET = "sk_live_MADEUP_from_env_4242"
PROMPT_SECRETS = ["sk_live_MADEUP_typed_at_prompt", "", "third-MADEUP-typed", ""]
INLINE = "sk_live_MADEUP_inline_attempt"
PANEL_SECRET = "panel-MADEUP-entered-value"
# Tokens pasted where a variable name, a profile name or a path belongs: every line that
# fails is removed from history, whatever the reason.
MISPLACED = {
    "set misplaced --from-env {}": "ghp_MADEUP_as_variable_name_0042",
    "retrieve {}": "sk_live_MADEUP_as_profile_name_0042",
    "update from-env --from-file secret2=/nonexistent/{}": "whsec_MADEUP_in_a_path_0042",
    "update from-env --clear {}": "github_pat_MADEUP_as_slot_0042",
}
ALL = [ENV_SECRET, INLINE, PANEL_SECRET, *(s for s in PROMPT_SECRETS if s), *MISPLACED.values()]


def test_history_database_holds_no_secret_after_a_session(tmp_path: Path) -> None:
    ipython_dir, home = tmp_path / "ipython", tmp_path / "store"
    env = kernel_env(
        flow="cloud-flow", home=home, IPYTHONDIR=str(ipython_dir), ZNB_TEST_SECRET=ENV_SECRET,
        ZNB_PANEL_SECRET=PANEL_SECRET,
    )  # fmt: skip
    with running_kernel(env) as kernel:
        kernel.ok("%load_ext zingy_nb")
        # the magic, from the environment
        kernel.ok("%zingy_apikey set from-env --from-env ZNB_TEST_SECRET")
        # the magic, answering getpass prompts the way the notebook UI does
        answers = iter(PROMPT_SECRETS)
        reply = kernel.kc.execute_interactive(
            "%zingy_apikey set typed",
            allow_stdin=True,
            stdin_hook=lambda msg: kernel.kc.input(next(answers)),
            timeout=60,
        )
        assert reply["content"]["status"] == "ok"
        # an inline secret: refused, and scrubbed
        assert kernel.run(f"%zingy_apikey set inline {INLINE}").ename == "UsageError"
        for template, token in MISPLACED.items():
            cell = kernel.run("%zingy_apikey " + template.format(token))
            assert cell.ename == "UsageError" and token not in cell.everything()
        # the panel, filled in by code as a click would
        kernel.ok(
            "import os\n"
            "p = %zingy_apikey panel\n"
            "p.name.value = 'from-panel'\n"
            "p.secret_inputs['secret1'].value = os.environ['ZNB_PANEL_SECRET']\n"
            "p.save_button.click()\n"
            "assert p.secret_inputs['secret1'].value == ''\n"
        )
        # zingyConn, used in code
        for name in ("from-env", "typed", "from-panel"):
            kernel.ok(f"k = zingyConn.apikey({name!r}); print(len(k.secret1))")
        digest = kernel.ok(
            "import hashlib; print(hashlib.sha256(zingyConn.apikey('typed').secret3.encode()).hexdigest())"
        ).stdout.strip()
        assert digest == hashlib.sha256(PROMPT_SECRETS[2].encode()).hexdigest()
    files = sorted((ipython_dir / "profile_default").glob("history.sqlite*"))
    assert files, "the kernel wrote no history database: the check would be empty"
    conn = sqlite3.connect(files[0])
    try:
        rows = conn.execute("SELECT source_raw FROM history").fetchall()
    finally:
        conn.close()
    assert any("zingyConn.apikey" in r[0] for r in rows)  # history was recorded
    for path in files:
        data = path.read_bytes()
        assert [s for s in ALL if s.encode() in data] == [], path
    cli = Path(sys.executable).with_name("zingy-nb")
    listed = subprocess.run(
        [cli, "profiles", "list"], env=env, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "from-env" in listed and "typed\tsecret1, secret3" in listed and "from-panel" in listed
