"""The flow gate: only a cloud-flow process retrieves, and a mode never widens.

The mode belongs to the process and is read once, so every scenario runs in a fresh
``python -c`` process started with the ``ZINGY_NB_FLOW`` under test. Profiles are
written from this process (managing profiles needs no flow mode).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from zingy_nb.profiles import Profiles

NAME = "stripe"
VALUES = ("sk_test_MADEUP_flow", None, "acct_MADEUP", None)
REFUSED = "works only in cloud-flow kernels"
HOW_TO_START = ("Zingy Cloud Flow", "zingy-nb kernels install")

# Run before each scenario: ``attempt`` turns a call into JSON-able data, ``report``
# prints the scenario's findings as the last line of stdout.
PRELUDE = """
import json, os, importlib
def attempt(fn, *args):
    try:
        value = fn(*args)
    except Exception as exc:
        return {"error": type(exc).__name__, "mro": [c.__name__ for c in type(exc).__mro__],
                "message": str(exc)}
    return {"ok": dict(value) if hasattr(value, "keys") else value}
def report(**found):
    print(json.dumps(found))
"""


def scenario(code: str, *, flow: str | None, home: Path) -> dict[str, Any]:
    """Run ``code`` in a new Python process with ``ZINGY_NB_FLOW=flow`` (None: unset)."""
    env = dict(os.environ, ZINGY_NB_HOME=str(home))
    env.pop("ZINGY_NB_FLOW", None)
    if flow is not None:
        env["ZINGY_NB_FLOW"] = flow
    proc = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout.splitlines()[-1]))


def allowed(result: dict[str, Any]) -> bool:
    assert "ok" in result or result["error"] == "CloudFlowOnlyError", result
    return "ok" in result


@pytest.fixture
def home(zingy_home: Path) -> Iterator[Path]:
    profiles = Profiles(zingy_home)
    profiles.set(NAME, *VALUES)
    profiles.store.close()
    yield zingy_home


EXPECTED = dict(zip(("secret1", "secret2", "secret3", "secret4"), VALUES))

RETRIEVE = """
from zingy_nb import zingyConn, flow
report(mode=flow.current(), known=attempt(zingyConn.apikey, "stripe"),
       unknown=attempt(zingyConn.apikey, "no-such-profile"))
"""


def test_cloud_flow_retrieves(home: Path) -> None:
    found = scenario(RETRIEVE, flow="cloud-flow", home=home)
    assert found["mode"] == "cloud-flow"
    assert found["known"] == {"ok": EXPECTED}
    assert found["unknown"]["error"] == "ProfileNotFoundError"


@pytest.mark.parametrize(
    ("flow", "mode", "guidance"),
    [
        ("page-flow", "page-flow", "this is a page-flow kernel"),
        (None, None, "`%zingy_apikey flow cloud-flow`"),
        ("", None, "`%zingy_apikey flow cloud-flow`"),
        ("Cloud-Flow", "invalid", "is set to 'Cloud-Flow', which is not a flow mode"),
        ("cloud_flow", "invalid", "is set to 'cloud_flow', which is not a flow mode"),
        ("1", "invalid", "is set to '1', which is not a flow mode"),
    ],
    ids=["page-flow", "unset", "empty", "wrong-case", "underscore", "truthy"],
)
def test_everything_but_cloud_flow_is_refused(
    home: Path, flow: str | None, mode: str | None, guidance: str
) -> None:
    found = scenario(RETRIEVE, flow=flow, home=home)

    assert found["mode"] == mode
    # A missing profile is refused the same way: no existence check before the gate.
    for attempted in (found["known"], found["unknown"]):
        assert attempted["error"] == "CloudFlowOnlyError"
        assert "PermissionError" in attempted["mro"] and "ZingyError" in attempted["mro"]
        message = attempted["message"]
        assert REFUSED in message and guidance in message
        assert all(hint in message for hint in HOW_TO_START)
        assert VALUES[0] not in message


@pytest.mark.parametrize(
    ("start", "later"),
    [("cloud-flow", "page-flow"), ("cloud-flow", None), ("page-flow", "cloud-flow"),
     (None, "cloud-flow")],
)  # fmt: skip
def test_environment_changes_after_first_use_change_nothing(
    home: Path, start: str | None, later: str | None
) -> None:
    found = scenario(
        f"""
        from zingy_nb import zingyConn
        first = attempt(zingyConn.apikey, "stripe")
        if {later!r} is None:
            os.environ.pop("ZINGY_NB_FLOW", None)
        else:
            os.environ["ZINGY_NB_FLOW"] = {later!r}
        report(first=first, after=attempt(zingyConn.apikey, "stripe"))
        """,
        flow=start,
        home=home,
    )
    assert allowed(found["first"]) is (start == "cloud-flow")
    assert found["after"] == found["first"]


@pytest.mark.parametrize(
    ("start", "later"), [("page-flow", "cloud-flow"), ("cloud-flow", "page-flow")]
)
def test_reloading_the_modules_keeps_the_mode(home: Path, start: str, later: str) -> None:
    found = scenario(
        f"""
        import zingy_nb, zingy_nb.flow
        first = attempt(zingy_nb.zingyConn.apikey, "stripe")
        os.environ["ZINGY_NB_FLOW"] = {later!r}
        importlib.reload(zingy_nb.flow)
        importlib.reload(zingy_nb)
        import zingy_nb.flow as flow_again
        report(first=first, mode=flow_again.current(),
               after=attempt(zingy_nb.zingyConn.apikey, "stripe"))
        """,
        flow=start,
        home=home,
    )
    assert found["mode"] == start
    assert allowed(found["first"]) is (start == "cloud-flow")
    assert found["after"] == found["first"]


FLAG_SEQUENCE = """
from zingy_nb import zingyConn, flow
steps = []
for mode in MODES:
    steps.append([mode, attempt(flow.flag, mode), flow.current(),
                  "ok" in attempt(zingyConn.apikey, "stripe")])
report(steps=steps)
"""


def flag_steps(home: Path, start: str | None, modes: list[str]) -> list[list[Any]]:
    code = FLAG_SEQUENCE.replace("MODES", repr(modes))
    return list(scenario(code, flow=start, home=home)["steps"])


def test_an_unflagged_process_may_be_flagged_cloud_flow_once(home: Path) -> None:
    steps = flag_steps(home, None, ["cloud-flow", "cloud-flow", "page-flow", "cloud-flow"])

    assert steps[0] == ["cloud-flow", {"ok": "cloud-flow"}, "cloud-flow", True]
    assert steps[1] == ["cloud-flow", {"ok": "cloud-flow"}, "cloud-flow", True]
    assert steps[2] == ["page-flow", {"ok": "page-flow"}, "page-flow", False]
    _mode, outcome, now, retrieves = steps[3]
    assert outcome["error"] == "FlowModeError" and "ValueError" in outcome["mro"]
    assert (now, retrieves) == ("page-flow", False)


def test_a_page_flow_process_never_becomes_cloud_flow(home: Path) -> None:
    (step,) = flag_steps(home, "page-flow", ["cloud-flow"])
    _mode, outcome, now, retrieves = step
    assert outcome["error"] == "FlowModeError"
    assert "never widens" in outcome["message"] and "Zingy Cloud Flow" in outcome["message"]
    assert (now, retrieves) == ("page-flow", False)


def test_cloud_flow_may_narrow_to_page_flow_but_not_back(home: Path) -> None:
    steps = flag_steps(home, "cloud-flow", ["page-flow", "cloud-flow"])
    assert steps[0] == ["page-flow", {"ok": "page-flow"}, "page-flow", False]
    assert steps[1][1]["error"] == "FlowModeError" and steps[1][2:] == ["page-flow", False]


def test_an_invalid_mode_fails_closed_and_cannot_be_flagged_cloud_flow(home: Path) -> None:
    steps = flag_steps(home, "yes please", ["cloud-flow", "page-flow"])
    assert steps[0][1]["error"] == "FlowModeError" and steps[0][2:] == ["invalid", False]
    assert steps[1] == ["page-flow", {"ok": "page-flow"}, "page-flow", False]


def test_flagging_with_an_unknown_mode_changes_nothing(home: Path) -> None:
    (step,) = flag_steps(home, None, ["cloud"])
    assert step[1]["error"] == "FlowModeError" and "cloud-flow" in step[1]["message"]
    assert step[2:] == [None, False]


def test_execute_retrieve_is_apikey_and_other_commands_are_unknown(home: Path) -> None:
    code = """
    from zingy_nb import zingyConn
    report(apikey=attempt(zingyConn.apikey, "stripe"),
           execute=attempt(zingyConn.execute, "stripe", "Retrieve"),
           unknown=attempt(zingyConn.execute, "stripe", "Delete"),
           lower=attempt(zingyConn.execute, "stripe", "retrieve"))
    """
    found = scenario(code, flow="cloud-flow", home=home)
    assert found["execute"] == found["apikey"] == {"ok": EXPECTED}
    for attempted, command in ((found["unknown"], "Delete"), (found["lower"], "retrieve")):
        assert attempted["error"] == "UnknownCommandError"
        assert "ValueError" in attempted["mro"]
        assert repr(command) in attempted["message"] and "'Retrieve'" in attempted["message"]

    refused = scenario(code, flow="page-flow", home=home)["execute"]
    assert refused["error"] == "CloudFlowOnlyError"


def test_managing_profiles_works_in_page_flow(home: Path) -> None:
    found = scenario(
        """
        from zingy_nb import flow, zingyConn
        from zingy_nb.profiles import get_profiles
        p = get_profiles()
        p.set("github", "ghp_MADEUP", "octo")
        p.update("github", {"secret2": None, "secret3": "hook_MADEUP"})
        p.rename("github", "github-ci")
        p.set("scratch", "tmp_MADEUP")
        p.delete("scratch")
        report(mode=flow.current(),
               names=[m.name for m in p.list()],
               slots=list(p.show("github-ci").slots_set),
               retrieve=attempt(zingyConn.apikey, "github-ci"))
        """,
        flow="page-flow",
        home=home,
    )
    assert found["mode"] == "page-flow"
    assert found["names"] == ["github-ci", NAME]
    assert found["slots"] == [True, False, True, False]
    assert found["retrieve"]["error"] == "CloudFlowOnlyError"

    profiles = Profiles(home)
    try:
        assert profiles.secrets("github-ci") == ("ghp_MADEUP", None, "hook_MADEUP", None)
    finally:
        profiles.store.close()


@pytest.mark.parametrize("flow", ["page-flow", None])
def test_a_refusal_stands_even_when_the_store_is_unusable(home: Path, flow: str | None) -> None:
    # Given a store URL that cannot be used, the refusal is still the refusal
    found = scenario(
        """
        os.environ["ZINGY_NB_STORE_URL"] = "mysql://nobody@127.0.0.1/none"
        from zingy_nb import zingyConn
        report(result=attempt(zingyConn.apikey, "stripe"))
        """,
        flow=flow,
        home=home,
    )
    assert found["result"]["error"] == "CloudFlowOnlyError"


# -- the gate is in the core: every public path to a value ----------------------------------
EVERY_PATH = """
from zingy_nb import flow, get_profiles, zingyConn
from zingy_nb.profiles import Profiles
from zingy_nb.redact import redactor
paths = {
    "Profiles.secrets": lambda: Profiles().secrets("stripe"),
    "get_profiles().secrets": lambda: get_profiles().secrets("stripe"),
    "zingyConn.apikey": lambda: zingyConn.apikey("stripe"),
    "zingyConn.execute": lambda: zingyConn.execute("stripe", "Retrieve"),
}
found = {name: attempt(fn) for name, fn in paths.items()}
report(found=found, masked=redactor.text(VALUE))
""".replace("VALUE", repr(VALUES[0]))


@pytest.mark.parametrize("flow", ["cloud-flow", "page-flow", None, "nonsense"])
def test_every_public_path_is_gated_and_registers_what_it_returns(
    home: Path, flow: str | None
) -> None:
    found = scenario(EVERY_PATH, flow=flow, home=home)
    for path, result in found["found"].items():
        if flow == "cloud-flow":
            expected = EXPECTED if path.startswith("zingyConn") else list(VALUES)
            assert result == {"ok": expected}, (path, result)
        else:
            assert result["error"] == "CloudFlowOnlyError", (path, result)
            assert VALUES[0] not in result["message"]
    # Retrieved values are registered with the process's redactor; refused ones never were.
    assert (found["masked"] == "[REDACTED]") is (flow == "cloud-flow")


CHILD = """
import subprocess, sys
from zingy_nb import flow
before = os.environ.get("ZINGY_NB_FLOW")
flag = attempt(flow.flag, "page-flow")
child = subprocess.run(
    [sys.executable, "-c", "from zingy_nb import flow, zingyConn\\n"
     "try:\\n    zingyConn.apikey('stripe')\\nexcept Exception as e:\\n"
     "    print(flow.current(), type(e).__name__)\\nelse:\\n    print(flow.current(), 'ok')"],
    capture_output=True, text=True)
report(before=before, flag=flag, child=child.stdout.strip(), err=child.stderr[-300:])
"""


@pytest.mark.parametrize("start", ["cloud-flow", None])
def test_a_process_flagged_page_flow_starts_page_flow_children(
    home: Path, start: str | None
) -> None:
    found = scenario(CHILD, flow=start, home=home)
    assert found["before"] == start
    assert found["flag"] == {"ok": "page-flow"}
    assert found["child"] == "page-flow CloudFlowOnlyError", found["err"]


WHILE_TESTING = """
from zingy_nb import flow, zingyConn
seen = []
with flow.cloud_flow_while_testing():
    seen.append([flow.current(), "ok" in attempt(zingyConn.apikey, "stripe")])
seen.append([flow.current(), "ok" in attempt(zingyConn.apikey, "stripe")])
report(seen=seen)
"""


@pytest.mark.parametrize(
    ("start", "inside", "after"),
    [
        (None, ["cloud-flow", True], [None, False]),
        ("page-flow", ["page-flow", False], ["page-flow", False]),
        ("bogus", ["invalid", False], ["invalid", False]),
        ("cloud-flow", ["cloud-flow", True], ["cloud-flow", True]),
    ],
)
def test_the_pytest_plugins_cloud_flow_never_widens_a_decided_mode(
    home: Path, start: str | None, inside: list[Any], after: list[Any]
) -> None:
    assert scenario(WHILE_TESTING, flow=start, home=home)["seen"] == [inside, after]
