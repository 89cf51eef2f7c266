"""``KeyInfo`` (in this process) and ``zingyConn``'s warm retrieval (in cloud-flow processes).

Warm retrieval is checked by behaviour: the SQL statements run on the store's own
connection are traced, and ``Cipher.open`` calls are counted by a wrapper that still
decrypts. Other processes change the profile through the ``zingy-nb`` CLI.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from zingy_nb.kernel.conn import KeyInfo
from zingy_nb.profiles import Profiles

CLI = str(Path(sys.executable).with_name("zingy-nb"))
VALUES = ("sk_test_MADEUP_keyinfo", None, "multi\nline MADEUP\n", None)


@pytest.fixture
def info() -> KeyInfo:
    return KeyInfo("stripe", VALUES)


# -- KeyInfo ---------------------------------------------------------------------------------
def test_attribute_and_item_access_agree(info: KeyInfo) -> None:
    assert info.name == "stripe"
    assert (info.secret1, info.secret2, info.secret3, info.secret4) == VALUES
    assert tuple(info[s] for s in ("secret1", "secret2", "secret3", "secret4")) == VALUES
    assert info.get("secret2") is None and info.secret2 is None
    assert dict(info) == {"secret1": VALUES[0], "secret2": None, "secret3": VALUES[2],
                          "secret4": None}  # fmt: skip
    assert list(info) == ["secret1", "secret2", "secret3", "secret4"] and len(info) == 4


def test_unknown_slot_is_a_key_error_without_values(info: KeyInfo) -> None:
    with pytest.raises(KeyError) as caught:
        info["secret5"]
    assert "secret1, secret2, secret3, secret4" in str(caught.value)
    assert VALUES[0] not in str(caught.value)
    assert "secret5" not in info


def test_keyinfo_is_read_only(info: KeyInfo) -> None:
    with pytest.raises(AttributeError):
        info.secret1 = "sk_test_MADEUP_other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        info.extra = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        del info.secret1  # type: ignore[misc]
    with pytest.raises(TypeError):
        info["secret1"] = "sk_test_MADEUP_other"  # type: ignore[index]
    assert info.secret1 == VALUES[0]


def test_text_forms_never_show_a_value(info: KeyInfo) -> None:
    shown = [repr(info), str(info), format(info), f"{info}", f"{info!r}", "%s" % (info,)]  # noqa: UP031
    for text in shown:
        assert VALUES[0] not in text and VALUES[2] not in text
        assert "MADEUP" not in text
    assert repr(info) == (
        "KeyInfo('stripe', secret1=<set>, secret2=<unset>, secret3=<set>, secret4=<unset>)"
    )


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_keyinfo_cannot_be_pickled(info: KeyInfo, protocol: int) -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(info, protocol=protocol)


# -- warm retrieval in a cloud-flow process ---------------------------------------------------
# Counts decryptions (the wrapper still decrypts) and traces the store connection's SQL.
PRELUDE = f'''
import json, subprocess
from zingy_nb.vault import crypto
from zingy_nb.kernel.conn import ZingyConn
from zingy_nb.profiles import get_profiles

opens, statements = [], []
_real_open = crypto.Cipher.open
def _counting_open(self, name, blob):
    opens.append(name)
    return _real_open(self, name, blob)
crypto.Cipher.open = _counting_open

profiles = get_profiles()
conn = ZingyConn(profiles)

def trace():
    profiles.store._conn.set_trace_callback(statements.append)

def cost(fn, *args):
    """Run fn; return (its result, decryptions and queries it made)."""
    del opens[:], statements[:]
    value = fn(*args)
    queries = [s for s in statements if not s.strip().upper().startswith("PRAGMA DATA_VERSION")]
    return value, {{"opens": len(opens), "queries": queries}}

def cli(*args, stdin=""):
    subprocess.run([{CLI!r}, *args], input=stdin, text=True, check=True,
                   capture_output=True, timeout=60)

def attempt(fn, *args):
    try:
        return {{"ok": dict(fn(*args))}}
    except Exception as exc:
        return {{"error": type(exc).__name__, "mro": [c.__name__ for c in type(exc).__mro__],
                "message": str(exc)}}

def report(**found):
    print(json.dumps(found))
'''

FREE = {"opens": 0, "queries": []}


def cloud_process(code: str, home: Path) -> dict[str, Any]:
    env = dict(os.environ, ZINGY_NB_HOME=str(home), ZINGY_NB_FLOW="cloud-flow")
    proc = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout.splitlines()[-1]))


@pytest.fixture
def home(zingy_home: Path) -> Path:
    profiles = Profiles(zingy_home)
    profiles.set("stripe", "sk_MADEUP_v1", "pk_MADEUP_v1")
    profiles.store.close()
    return zingy_home


def test_repeated_reads_neither_query_nor_decrypt(home: Path) -> None:
    found = cloud_process(
        """
        profiles.set("own", "sk_MADEUP_own")   # this process opened the store itself
        trace()
        _, cold = cost(conn.apikey, "own")
        warm = [cost(conn.apikey, "own")[1] for _ in range(50)]
        first, again = conn.apikey("own"), conn.apikey("own")
        report(cold=cold, warm=warm, same=first is again, value=first.secret1)
        """,
        home,
    )
    assert found["cold"]["opens"] == 1 and found["cold"]["queries"]  # the counters work
    assert all(cost == FREE for cost in found["warm"])
    assert found["same"] is True and found["value"] == "sk_MADEUP_own"


def test_the_second_read_of_a_profile_written_elsewhere_is_warm(home: Path) -> None:
    found = cloud_process(
        """
        conn.apikey("stripe")
        trace()
        _, second = cost(conn.apikey, "stripe")
        report(second=second)
        """,
        home,
    )
    assert found["second"] == FREE


def test_a_warm_read_returns_what_another_process_committed(home: Path) -> None:
    found = cloud_process(
        """
        conn.apikey("stripe"); conn.apikey("stripe")
        trace()
        before, warm = cost(conn.apikey, "stripe")
        cli("profiles", "update", "stripe", "--stdin", stdin="sk_MADEUP_v2\\n\\nacct_MADEUP\\n")
        after, changed = cost(conn.apikey, "stripe")
        again, rewarm = cost(conn.apikey, "stripe")
        report(before=dict(before), after=dict(after), warm=warm, changed=changed,
               rewarm=rewarm, again=dict(again))
        """,
        home,
    )
    # ``before`` is read after the update: a KeyInfo already handed out is a snapshot.
    assert found["before"] == {"secret1": "sk_MADEUP_v1", "secret2": "pk_MADEUP_v1",
                               "secret3": None, "secret4": None}  # fmt: skip
    assert found["warm"] == FREE
    expected = {"secret1": "sk_MADEUP_v2", "secret2": "pk_MADEUP_v1",
                "secret3": "acct_MADEUP", "secret4": None}  # fmt: skip
    assert found["after"] == expected == found["again"]
    assert found["changed"]["opens"] == 1  # decrypted once more, because it changed
    assert found["rewarm"] == FREE


def test_a_profile_deleted_by_another_process_is_not_found(home: Path) -> None:
    found = cloud_process(
        """
        conn.apikey("stripe"); conn.apikey("stripe")
        cli("profiles", "delete", "stripe")
        report(after=attempt(conn.apikey, "stripe"))
        """,
        home,
    )
    after = found["after"]
    assert after["error"] == "ProfileNotFoundError"
    assert "KeyError" in after["mro"]
    assert "'stripe'" in after["message"] and "list" in after["message"]
    assert "sk_MADEUP_v1" not in after["message"]


def test_a_profile_renamed_by_another_process_moves(home: Path) -> None:
    found = cloud_process(
        """
        conn.apikey("stripe"); conn.apikey("stripe")
        cli("profiles", "rename", "stripe", "stripe-live")
        report(old=attempt(conn.apikey, "stripe"), new=attempt(conn.apikey, "stripe-live"))
        """,
        home,
    )
    assert found["old"]["error"] == "ProfileNotFoundError"
    assert found["new"]["ok"]["secret1"] == "sk_MADEUP_v1"
