"""Where a member's private key lives: ZINGY_NB_MEMBER_KEY, the OS keyring, a 0600 file.

The pytest process pins keyring's fail backend (tests/isolation.py), so in-process tests
exercise the env var and the key file; the keyring path runs in a child process against
a real gnome-keyring on a private D-Bus session (tests/keyring_daemon.py).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.keyring_daemon import SecretService, secret_service_fixture  # noqa: F401
from zingy_nb import notices, redact
from zingy_nb.errors import MemberKeyError
from zingy_nb.vault import member_custody
from zingy_nb.vault.member_custody import ENV_VAR, MemberKeyLocator
from zingy_nb.vault.member_keys import MemberKeyPair


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    notices._said.discard("member-key-file")


def test_env_key_wins_and_is_registered_for_redaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pair = MemberKeyPair.generate()
    text = pair.encode()
    monkeypatch.setenv(ENV_VAR, text)
    found = MemberKeyLocator(tmp_path).load()
    assert found is not None and found.source == "env" and found.where == ENV_VAR
    assert found.pair.fingerprint == pair.fingerprint
    assert text not in repr(found)
    shown = redact.redactor.text(f"key is {text} and part {text[30:60]}")
    assert text not in shown and text[30:60] not in shown
    assert not (tmp_path / member_custody.KEY_FILE).exists()


def test_env_key_is_never_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, MemberKeyPair.generate().encode())
    with pytest.raises(MemberKeyError, match=ENV_VAR):
        MemberKeyLocator(tmp_path).save(MemberKeyPair.generate())
    assert not (tmp_path / member_custody.KEY_FILE).exists()


def test_bad_env_key_is_refused_without_quoting_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, "zingy-nb-member-key-v1:not-really-a-key-MADEUP")
    with pytest.raises(MemberKeyError) as info:
        MemberKeyLocator(tmp_path).load()
    assert "not-really-a-key" not in str(info.value) and ENV_VAR in str(info.value)


def test_without_keyring_the_key_file_is_0600_and_announced(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "zingy"
    locator = MemberKeyLocator(home)
    assert locator.load() is None
    pair = MemberKeyPair.generate()
    kept = locator.save(pair)
    assert kept.source == "file" and kept.where == str(home / member_custody.KEY_FILE)
    mode = stat.S_IMODE((home / member_custody.KEY_FILE).stat().st_mode)
    assert mode == 0o600
    err = capfd.readouterr().err
    assert "member key is kept in" in err and str(home / member_custody.KEY_FILE) in err
    assert pair.encode() not in err
    again = MemberKeyLocator(home).load()
    assert again is not None and again.pair.public == pair.public
    # Said once per home, not per process.
    notices._said.discard("member-key-file")
    MemberKeyLocator(home).load()
    assert "member key is kept in" not in capfd.readouterr().err


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    locator = MemberKeyLocator(tmp_path)
    locator.save(MemberKeyPair.generate())
    os.chmod(locator.key_file, 0o640)
    with pytest.raises(MemberKeyError, match="chmod 600"):
        locator.load()


def test_a_key_file_that_cannot_be_used_is_not_announced(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # Given a key file others can read, written where no marker records a notice
    path = MemberKeyLocator(tmp_path).key_file
    path.write_text(MemberKeyPair.generate().encode() + "\n")
    os.chmod(path, 0o640)

    # When it is refused, Then nothing says the key is kept there and no marker is made
    with pytest.raises(MemberKeyError, match="chmod 600"):
        MemberKeyLocator(tmp_path).load()
    assert "member key is kept in" not in capfd.readouterr().err
    assert not (tmp_path / member_custody.ANNOUNCED_FILE).exists()


def test_no_key_says_team_join(tmp_path: Path) -> None:
    with pytest.raises(MemberKeyError, match="zingy-nb team join"):
        MemberKeyLocator(tmp_path).require("postgresql://db/team")


def test_keyring_keeps_the_key_and_no_file_is_written(
    secret_service: SecretService, tmp_path: Path
) -> None:
    home = tmp_path / "zingy"
    code = (
        "from zingy_nb.vault.member_custody import MemberKeyLocator\n"
        "from zingy_nb.vault.member_keys import MemberKeyPair\n"
        "import os\n"
        "loc = MemberKeyLocator(os.environ['ZINGY_NB_HOME'])\n"
        "assert loc.load() is None\n"
        "kept = loc.save(MemberKeyPair.generate())\n"
        "print(kept.source, kept.pair.fingerprint)\n"
    )
    done = secret_service.python(home, code)
    assert done.returncode == 0, done.stderr
    source, fp = done.stdout.split()
    assert source == "keyring"
    assert not (home / member_custody.KEY_FILE).exists()
    stored = secret_service.lookup(f"member:{home}")
    assert stored is not None
    assert MemberKeyPair.decode(stored, where="test").fingerprint == fp
    read = secret_service.python(
        home,
        "import os\nfrom zingy_nb.vault.member_custody import MemberKeyLocator\n"
        "k = MemberKeyLocator(os.environ['ZINGY_NB_HOME']).load()\nprint(k.source, k.pair.fingerprint)",
    )
    assert read.returncode == 0, read.stderr
    assert read.stdout.split() == ["keyring", fp]


def test_each_role_has_its_own_key_in_one_home(tmp_path: Path) -> None:
    alice = MemberKeyLocator(tmp_path, "alice")
    bob = MemberKeyLocator(tmp_path, "bob")
    a = alice.save(MemberKeyPair.generate())
    b = bob.save(MemberKeyPair.generate())
    assert alice.key_file != bob.key_file and alice.key_file.name == "member-alice.key"
    loaded_a, loaded_b = alice.load(), bob.load()
    assert loaded_a is not None and loaded_a.pair.public == a.pair.public
    assert loaded_b is not None and loaded_b.pair.public == b.pair.public
    odd = MemberKeyLocator(tmp_path, "we/ird role")
    assert "/" not in odd.key_file.name and odd.key_file.parent == tmp_path


def test_member_key_forms_for_the_save_time_scrub(monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    assert member_custody.member_key_forms() == []
    pair = MemberKeyPair.generate()
    text = pair.encode()
    monkeypatch.setenv(ENV_VAR, text)
    forms = member_custody.member_key_forms()
    raw = base64.urlsafe_b64decode(text.partition(":")[2])
    assert text in forms and raw.hex() in forms and base64.b64encode(raw).decode() in forms
