"""Save-time scrub through Jupyter's contents REST API on a real server (pytest-jupyter).

Every test runs on both store backends (``tests.postgres.store_backend``): the server
scrubs the values of whichever store it uses. Saves come in every format a client uses:
notebook JSON, text, base64 (JupyterLab uploads) and chunked base64 (large uploads).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import markupsafe
import pytest
from traitlets.config import Config

from tests import postgres
from tests.leaks.scanner import find
from tests.postgres import Backend
from zingy_nb.paths import MEMBER_KEY_ENV
from zingy_nb.server.scrub import EVENT_SCHEMA_ID
from zingy_nb.vault.crypto import encode_key, new_key
from zingy_nb.vault.custody import ENV_VAR as KEY_ENV
from zingy_nb.vault.member_custody import MemberKeyLocator
from zingy_nb.vault.member_keys import MemberKeyPair

pg_server = postgres.pg_server
store_backend = postgres.store_backend

SECRET = "sk_live_MADEUP_scrub_me_0001"
SECOND = "whsec_MADEUP_second_0002"


@pytest.fixture
def store_home(store_backend: Backend) -> Path:
    store_backend.profiles().set("stripe", SECRET, SECOND)
    return store_backend.home


@pytest.fixture
def scrub_settings() -> dict[str, Any]:
    return {}


@pytest.fixture
def server_key(request: pytest.FixtureRequest, store_backend: Backend, monkeypatch: Any) -> Any:
    """The key the server, and so the agent it starts, is given: set before the server
    starts, as a real server's environment is. "usable" (the default: the backend's own),
    "missing", or a kind of ``env_key`` (its tuple is returned)."""
    how = getattr(request, "param", "usable")
    if how == "missing":
        remove_store_key(store_backend, monkeypatch)  # no stored value is known
    elif how != "usable":
        var, key, raw, opens = env_key(store_backend, how)
        monkeypatch.setenv(var, key)
        if store_backend.server is not None:  # the environment is the member key's only source
            MemberKeyLocator(store_backend.home, "alice").key_file.unlink()
        return var, key, raw, opens
    return how


@pytest.fixture
def jp_server_config(store_home: Path, scrub_settings: dict[str, Any], server_key: Any) -> Config:
    return Config(
        {
            "ServerApp": {"jpserver_extensions": {"zingy_nb": True}},
            "ContentsManager": {"allow_hidden": True},  # uploads of dotfiles (.env)
            "ZingyNb": {"store_home": str(store_home), **scrub_settings},
        }
    )


def leaky_notebook() -> dict[str, Any]:
    """A notebook with the secret in every place a notebook can hold it."""
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "widgets": {
                "application/vnd.jupyter.widget-state+json": {
                    "state": {"abc": {"state": {"value": SECRET}}}
                }
            }
        },
        "cells": [
            {
                "cell_type": "code",
                "id": "c1",
                "execution_count": 1,
                "metadata": {"note": f"key={SECOND}"},
                "source": f"key = '{SECRET}'",
                "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": f"Bearer {SECRET}\n"},
                    {
                        "output_type": "execute_result",
                        "execution_count": 1,
                        "metadata": {},
                        "data": {"text/plain": repr(SECOND), "text/html": f"<b>{SECRET}</b>"},
                    },
                    {
                        "output_type": "error",
                        "ename": "ValueError",
                        "evalue": SECRET,
                        "traceback": [f"ValueError: {SECRET}"],
                    },
                ],
            },
            {
                "cell_type": "markdown",
                "id": "m1",
                "metadata": {},
                "source": "see attachment",
                "attachments": {"k.txt": {"text/plain": SECOND}},
            },
        ],
    }


def remove_store_key(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """Take the server's only key: ZINGY_NB_MASTER_KEY, or alice's member key file."""
    monkeypatch.delenv(MEMBER_KEY_ENV, raising=False)
    if backend.server is None:
        monkeypatch.delenv(KEY_ENV)
    else:  # no keyring in the tests: the file is the only other place it could be
        MemberKeyLocator(backend.home, "alice").key_file.unlink()


async def save(jp_fetch: Any, path: str, model: dict[str, Any]) -> Any:
    return await jp_fetch("api", "contents", path, method="PUT", body=json.dumps(model))


def forms(value: str) -> list[bytes]:
    return [value.encode(), base64.b64encode(value.encode())]


async def test_saving_a_notebook_scrubs_every_stored_value(
    jp_fetch: Any,
    jp_root_dir: Path,
    jp_serverapp: Any,
    events: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # When a notebook holding stored values everywhere is saved through the REST API
    (jp_root_dir / "work").mkdir()
    response = await save(
        jp_fetch, "work/leaky.ipynb", {"type": "notebook", "content": leaky_notebook()}
    )
    # Then the save succeeds and the file on disk holds none of them
    assert response.code in (200, 201)
    on_disk = (jp_root_dir / "work" / "leaky.ipynb").read_bytes()
    assert [f for v in (SECRET, SECOND) for f in forms(v) if f in on_disk] == []
    saved = json.loads(on_disk)
    cell = saved["cells"][0]
    assert "".join(cell["source"]) == "key = '[REDACTED]'"
    assert "".join(cell["outputs"][0]["text"]) == "Bearer [REDACTED]\n"
    assert cell["outputs"][2]["evalue"] == "[REDACTED]"
    assert "".join(saved["cells"][1]["attachments"]["k.txt"]["text/plain"]) == "[REDACTED]"
    widget = saved["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]
    assert widget["state"]["abc"]["state"]["value"] == "[REDACTED]"
    # And the user is told: server log and an event for the JupyterLab notification
    assert "replaced 9 stored secret value(s) in work/leaky.ipynb" in caplog.text
    assert SECRET not in caplog.text
    await jp_serverapp.event_logger.gather_listeners()
    assert events == [{"path": "work/leaky.ipynb", "count": 9}]


async def test_text_files_are_scrubbed_and_clean_files_left_alone(
    jp_fetch: Any, jp_root_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await save(
        jp_fetch, "notes.txt", {"type": "file", "format": "text", "content": f"token {SECRET}"}
    )
    assert (jp_root_dir / "notes.txt").read_text() == "token [REDACTED]"
    await save(jp_fetch, "clean.txt", {"type": "file", "format": "text", "content": "nothing here"})
    assert (jp_root_dir / "clean.txt").read_text() == "nothing here"
    assert "stored secret value(s) in clean.txt" not in caplog.text


async def test_a_profile_saved_through_the_sidebar_api_is_scrubbed_at_once(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    fresh = "sk_live_MADEUP_just_added_0003"
    await save(jp_fetch, "a.txt", {"type": "file", "format": "text", "content": "warm the cache"})
    await jp_fetch(
        "zingy-nb", "api", "profiles", "new", method="PUT", body=json.dumps({"secret1": fresh})
    )
    await save(jp_fetch, "b.txt", {"type": "file", "format": "text", "content": fresh})
    assert (jp_root_dir / "b.txt").read_text() == "[REDACTED]"


@pytest.mark.parametrize("scrub_settings", [{"scrub_enabled": False}])
async def test_scrub_can_be_turned_off(jp_fetch: Any, jp_root_dir: Path) -> None:
    await save(jp_fetch, "keep.txt", {"type": "file", "format": "text", "content": SECRET})
    assert (jp_root_dir / "keep.txt").read_text() == SECRET


@pytest.mark.parametrize("scrub_settings", [{"scrub_paths": ["shared/*"]}])
async def test_scrub_can_be_limited_to_path_patterns(jp_fetch: Any, jp_root_dir: Path) -> None:
    (jp_root_dir / "shared").mkdir()
    await save(jp_fetch, "shared/x.txt", {"type": "file", "format": "text", "content": SECRET})
    await save(jp_fetch, "private.txt", {"type": "file", "format": "text", "content": SECRET})
    assert (jp_root_dir / "shared" / "x.txt").read_text() == "[REDACTED]"
    assert (jp_root_dir / "private.txt").read_text() == SECRET


@pytest.mark.parametrize("server_key", ["missing"], indirect=True)
async def test_without_a_usable_key_the_save_succeeds_unscrubbed_and_warns(
    jp_fetch: Any,
    jp_root_dir: Path,
    store_backend: Backend,
    caplog: pytest.LogCaptureFixture,
) -> None:
    response = await save(jp_fetch, "x.txt", {"type": "file", "format": "text", "content": "text"})
    assert response.code in (200, 201)
    assert (jp_root_dir / "x.txt").read_text() == "text"
    assert "saved x.txt WITHOUT scrubbing stored secrets" in caplog.text
    assert ("zingy-nb team join" if store_backend.server else "zingy-nb key import") in caplog.text


# -- base64 and chunked uploads, magic lines, the key from the environment ------------

MAGIC_TOKEN = "sk_live_madeupmadeup123"  # typed inline, never stored


@pytest.fixture
def events(jp_serverapp: Any) -> list[dict[str, Any]]:
    """Scrub events the server emits (read after ``gather_listeners``)."""
    seen: list[dict[str, Any]] = []

    async def listener(logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        seen.append(data)

    jp_serverapp.event_logger.add_listener(schema_id=EVENT_SCHEMA_ID, listener=listener)
    return seen


async def upload(jp_fetch: Any, path: str, *pieces: bytes) -> dict[str, Any]:
    """Upload as JupyterLab does: one base64 save, or chunks numbered 1, 2, ..., -1."""
    for number, piece in enumerate(pieces, 1):
        content = base64.b64encode(piece).decode("ascii")
        model: dict[str, Any] = {"type": "file", "format": "base64", "content": content}
        if len(pieces) > 1:
            model["chunk"] = -1 if number == len(pieces) else number
        response = await save(jp_fetch, path, model)
        assert response.code in (200, 201)
    return json.loads(response.body)


def split_inside(data: bytes, *values: str) -> list[bytes]:
    """``data`` cut into pieces at a point inside each value (so no piece holds one)."""
    cuts = [data.index(v.encode()) + len(v) // 2 for v in values]
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]


def magic_notebook(*lines: str) -> dict[str, Any]:
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {
                "cell_type": "code",
                "id": "m1",
                "execution_count": None,
                "metadata": {},
                "source": "\n".join(lines),
                "outputs": [],
            }
        ],
    }


async def test_a_base64_upload_of_a_text_file_is_scrubbed(
    jp_fetch: Any,
    jp_root_dir: Path,
    jp_serverapp: Any,
    events: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # When a .env file holding both stored values is uploaded (base64, one request)
    text = f"# made-up\nSTRIPE_KEY={SECRET}\nHOOK='{SECOND}'\n"
    model = await upload(jp_fetch, ".env", text.encode())
    # Then the file on disk holds [REDACTED] instead, and the user is told
    on_disk = (jp_root_dir / ".env").read_bytes()
    assert on_disk == b"# made-up\nSTRIPE_KEY=[REDACTED]\nHOOK='[REDACTED]'\n"
    assert model["size"] == len(on_disk)
    assert "replaced 2 stored secret value(s) in .env" in caplog.text
    await jp_serverapp.event_logger.gather_listeners()
    assert events == [{"path": ".env", "count": 2}]


async def test_a_notebook_uploaded_as_base64_is_scrubbed_and_stays_valid_json(
    jp_fetch: Any, jp_root_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notebook = leaky_notebook()
    notebook["cells"][0]["source"] = f"%zingy_apikey set stripe {MAGIC_TOKEN}\nkey = '{SECRET}'"
    await upload(jp_fetch, "up.ipynb", json.dumps(notebook, indent=1).encode())
    on_disk = (jp_root_dir / "up.ipynb").read_bytes()
    assert [f for v in (SECRET, SECOND, MAGIC_TOKEN) for f in forms(v) if f in on_disk] == []
    saved = json.loads(on_disk)
    assert "".join(saved["cells"][0]["source"]) == "%zingy_apikey set stripe\nkey = '[REDACTED]'"
    assert "".join(saved["cells"][0]["outputs"][0]["text"]) == "Bearer [REDACTED]\n"
    assert "replaced 9 stored secret value(s) in up.ipynb" in caplog.text
    assert "cut 1 %zingy_apikey line(s) in up.ipynb" in caplog.text


@pytest.mark.parametrize("name", ["big.env", "big.ipynb"])
async def test_a_chunked_upload_is_scrubbed_once_assembled(
    jp_fetch: Any,
    jp_root_dir: Path,
    jp_serverapp: Any,
    events: list[dict[str, Any]],
    name: str,
) -> None:
    # Given a file whose stored values each straddle a chunk boundary
    if name.endswith(".ipynb"):
        notebook = magic_notebook(f"a = '{SECRET}'", f"%zingy_apikey set s {MAGIC_TOKEN}")
        notebook["cells"][0]["outputs"] = [
            {"output_type": "stream", "name": "stdout", "text": f"{SECOND}\n"}
        ]
        data = json.dumps(notebook, indent=1).encode()
        expected = {"path": name, "count": 2, "lines": 1}
    else:
        data = f"A={SECRET}\n{'padding ' * 50}\nB={SECOND}\n".encode()
        expected = {"path": name, "count": 2}
    pieces = split_inside(data, SECRET, SECOND)
    assert len(pieces) == 3 and not [p for p in pieces for v in (SECRET, SECOND) if v.encode() in p]
    # When it is uploaded in chunks 1, 2, -1
    model = await upload(jp_fetch, name, *pieces)
    # Then the assembled file holds no stored value, and the answer describes it as it is
    on_disk = (jp_root_dir / name).read_bytes()
    assert [f for v in (SECRET, SECOND, MAGIC_TOKEN) for f in forms(v) if f in on_disk] == []
    assert on_disk.count(b"[REDACTED]") == 2
    assert model["size"] == len(on_disk)
    if name.endswith(".ipynb"):
        cell = json.loads(on_disk)["cells"][0]
        assert "".join(cell["source"]) == "a = '[REDACTED]'\n%zingy_apikey set s"
    await jp_serverapp.event_logger.gather_listeners()
    assert events == [expected]


@pytest.mark.parametrize("chunked", [False, True], ids=["single", "chunked"])
async def test_a_binary_upload_is_written_unchanged(
    jp_fetch: Any, jp_root_dir: Path, chunked: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # Given bytes that are not UTF-8 text, though they hold a stored value
    data = b"\x89PNG\r\n\x1a\n\xff\xfe" + SECRET.encode() + b"\x00\x01\xc3" + SECOND.encode()
    pieces = split_inside(data, SECRET) if chunked else [data]
    await upload(jp_fetch, "image.png", *pieces)
    # Then the file is exactly what was sent: binary files are left alone
    assert (jp_root_dir / "image.png").read_bytes() == data
    assert "secret value(s) in image.png" not in caplog.text


@pytest.mark.parametrize("how", ["notebook", "base64"])
@pytest.mark.parametrize("server_key", ["usable", "missing"], indirect=True)
async def test_inline_secrets_on_magic_lines_are_dropped_even_without_a_key(
    jp_fetch: Any,
    jp_root_dir: Path,
    caplog: pytest.LogCaptureFixture,
    how: str,
    server_key: str,
) -> None:
    key = server_key
    notebook = magic_notebook(
        f"%zingy_apikey set stripe {MAGIC_TOKEN}", "%zingy_apikey list", "print(1)"
    )
    if how == "notebook":
        await save(jp_fetch, "magic.ipynb", {"type": "notebook", "content": notebook})
    else:
        await upload(jp_fetch, "magic.ipynb", json.dumps(notebook).encode())
    on_disk = (jp_root_dir / "magic.ipynb").read_bytes()
    assert [f for f in forms(MAGIC_TOKEN) if f in on_disk] == []
    source = "".join(json.loads(on_disk)["cells"][0]["source"])
    assert source == "%zingy_apikey set stripe\n%zingy_apikey list\nprint(1)"
    assert "cut 1 %zingy_apikey line(s) in magic.ipynb" in caplog.text
    assert "stored secret value(s) in magic.ipynb" not in caplog.text
    assert ("WITHOUT scrubbing stored secrets" in caplog.text) == (key == "missing")


@pytest.mark.parametrize(
    "line",
    [
        "%zingy_apikey set stripe --from-env STRIPE_KEY",
        '%zingy_apikey show "my service"',  # refused by the magic, but holds no secret
        "%zingy_apikey set my service",
    ],
)
async def test_a_magic_line_with_no_secret_is_saved_byte_identical(
    jp_fetch: Any,
    jp_root_dir: Path,
    jp_serverapp: Any,
    events: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    line: str,
) -> None:
    text = json.dumps(magic_notebook(line))
    await upload(jp_fetch, "fine.ipynb", text.encode())
    assert (jp_root_dir / "fine.ipynb").read_text() == text
    assert "secret value(s) in fine.ipynb" not in caplog.text
    assert "line(s) in fine.ipynb" not in caplog.text
    await jp_serverapp.event_logger.gather_listeners()
    assert events == []


def env_key(backend: Backend, which: str) -> tuple[str, str, bytes, bool]:
    """(variable, text, key material, whether the store opens) of a key for the server's
    environment: the store's own (master key, or alice's member key), a fresh one of that
    kind, or a member key not the server's (beside the master key; or bob's, published)."""
    team = backend.server is not None
    fresh = MemberKeyPair.generate().encode()
    text = {
        "store-key": backend.member_keys["alice"] if team else str(backend.key),
        "other-key": fresh if team else encode_key(new_key()),
        "member-key": backend.member_keys.get("bob", fresh),
    }[which]
    var = MEMBER_KEY_ENV if team or which == "member-key" else KEY_ENV
    opens = which == "store-key" or (which == "member-key" and not team)
    return var, text, base64.urlsafe_b64decode(text.rpartition(":")[2]), opens


@pytest.mark.parametrize("server_key", ["store-key", "other-key", "member-key"], indirect=True)
async def test_a_key_from_the_environment_is_scrubbed(
    jp_fetch: Any,
    jp_root_dir: Path,
    caplog: pytest.LogCaptureFixture,
    server_key: tuple[str, str, bytes, bool],
) -> None:
    # Given a key in ZINGY_NB_MASTER_KEY or ZINGY_NB_MEMBER_KEY (as a spawner gives it),
    # in the server's environment when it started
    var, key, raw, opens = server_key
    # When files holding it (as text, in standard base64 and hex) are saved
    text = f"{var}={key}\nstd={base64.b64encode(raw).decode()}\nhex={raw.hex()}\n"
    await save(jp_fetch, "k.txt", {"type": "file", "format": "text", "content": text})
    await upload(jp_fetch, "k.sh", f"export {var}='{key}'\n".encode())
    # Then no form of it is on disk, and a key that opens nothing is said so
    expected = f"{var}=[REDACTED]\nstd=[REDACTED]\nhex=[REDACTED]\n"
    assert (jp_root_dir / "k.txt").read_text() == expected
    assert (jp_root_dir / "k.sh").read_text() == f"export {var}='[REDACTED]'\n"
    assert key not in caplog.text
    assert ("WITHOUT scrubbing stored secrets" in caplog.text) == (not opens)


async def test_a_match_across_a_json_escape_never_breaks_the_notebook(
    jp_fetch: Any, jp_root_dir: Path, store_backend: Backend
) -> None:
    # Given a stored value that starts with "n", and a notebook whose JSON text has the
    # escape "\n" right before the rest of it: a match there would cut the escape
    value = "nMADEUP_esc_val_04"
    store_backend.profiles().set("esc", value)
    notebook = magic_notebook("print('hi')")
    notebook["cells"][0]["outputs"] = [
        {"output_type": "stream", "name": "stdout", "text": f"line\n{value[1:]}\n"},
        {"output_type": "stream", "name": "stdout", "text": f"real {value}\n"},
    ]
    text = json.dumps(notebook)
    assert f"\\{value}" in text
    await upload(jp_fetch, "esc.ipynb", text.encode())
    # Then the saved file is still valid JSON, and the value is gone
    on_disk = (jp_root_dir / "esc.ipynb").read_bytes()
    saved = json.loads(on_disk)
    assert value.encode() not in on_disk
    assert "".join(saved["cells"][0]["outputs"][1]["text"]) == "real [REDACTED]\n"


@pytest.mark.parametrize("scrub_settings", [{"scrub_max_bytes": 64}])
async def test_a_chunked_upload_over_the_size_limit_is_saved_with_a_warning(
    jp_fetch: Any, jp_root_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = f"A={SECRET}\n{'padding ' * 20}\n".encode()
    await upload(jp_fetch, "huge.txt", *split_inside(data, SECRET))
    assert (jp_root_dir / "huge.txt").read_bytes() == data
    assert "saved huge.txt WITHOUT scrubbing: it is larger than" in caplog.text
    # A save in one request is in memory anyway: it is scrubbed whatever its size
    await upload(jp_fetch, "whole.txt", data)
    assert SECRET.encode() not in (jp_root_dir / "whole.txt").read_bytes()


#: A stored value with a character that some escaping changes at least every 15 others:
#: no run of 16 of it survives any escaping unchanged.
ESCAPED = "MADEUP'scrub\"pw/with&all<the>esc/apes'0003"


def escaped_forms(value: str) -> dict[str, str]:
    """``value`` as markupsafe (Jinja2, pandas Styler), pandas ``to_json``, Django's
    ``json_script`` and an all-entities encoder write it."""
    return {
        "text/html": str(markupsafe.escape(value)),
        "application/json": json.dumps({"k": value}).replace("/", "\\/"),
        "text/x-script": json.dumps(value).replace("<", "\\u003C").replace("&", "\\u0026"),
        "text/x-entities": "".join(f"&#x{ord(c):x};" for c in value),
    }


@pytest.mark.parametrize("how", ["notebook", "notebook-as-text", "text"])
async def test_values_escaped_for_html_or_json_are_scrubbed(
    jp_fetch: Any, jp_root_dir: Path, store_backend: Backend, how: str
) -> None:
    # Given a stored value, and a file holding it as HTML and JSON escapers write it
    store_backend.profiles().set("escaped", ESCAPED)
    forms = escaped_forms(ESCAPED)
    notebook = magic_notebook("print('hi')")
    notebook["cells"][0]["outputs"] = [
        {"output_type": "display_data", "metadata": {}, "data": {kind: text}}
        for kind, text in forms.items()
    ]
    # When it is saved as a notebook model, as a notebook's text, or as an HTML page
    if how == "notebook":
        await save(jp_fetch, "page.ipynb", {"type": "notebook", "content": notebook})
        path = "page.ipynb"
    elif how == "notebook-as-text":
        text = json.dumps(notebook)
        await save(jp_fetch, "page.ipynb", {"type": "file", "format": "text", "content": text})
        path = "page.ipynb"
    else:
        page = "\n".join(forms.values())
        await save(jp_fetch, "page.html", {"type": "file", "format": "text", "content": page})
        path = "page.html"
    # Then no form of it is left, however a viewer decodes the file
    on_disk = (jp_root_dir / path).read_text()
    assert find(on_disk, {"escaped": ESCAPED}, path) == []
    if how != "text":
        saved = json.loads(on_disk)  # still a notebook
        for output in saved["cells"][0]["outputs"]:
            for text in output["data"].values():
                assert find("".join(text), {"escaped": ESCAPED}, path) == []
                assert "[REDACTED]" in "".join(text)
