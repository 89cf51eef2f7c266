"""The server extension's REST API, served by a real Jupyter server (pytest-jupyter).

Every test runs with ``ServerApp.allow_unauthenticated_access = False`` unless it says
otherwise, under pytest-jupyter's base URL ``/a%40b/``. Every response body and header,
and the server's log, is checked for the made-up secret values after each test.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import JupyterServerAuthWarning, url_path_join
from tornado.httpclient import HTTPResponse
from traitlets.config import Config

from zingy_nb.paths import KEY_FILE
from zingy_nb.profiles import Profiles

S1, S2, S3, S4 = (
    "madeup-S1-alpha-7Qx2",
    "madeup-S2-bravo-9Kp4",
    "madeup-S3-charlie-1Lm6",
    "madeup-S4-delta-3Zt8",
)
MADE_UP = (S1, S2, S3, S4, "madeup-S1-echo-5Rw0", "madeup-S2-foxtrot-8Hn3")


@pytest.fixture
def store_home(tmp_path: Path) -> Path:
    return tmp_path / "zingy-store"


@pytest.fixture
def zingy_settings(store_home: Path) -> dict[str, Any]:
    """``c.ZingyNb`` of the server; a test may parametrize it (``{}`` = the defaults)."""
    return {"store_home": str(store_home)}


@pytest.fixture
def allow_unauthenticated() -> bool:
    return False


@pytest.fixture
def server_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Warnings raised while the server starts and runs (set up before it)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


@pytest.fixture
def jp_server_config(
    zingy_settings: dict[str, Any],
    allow_unauthenticated: bool,
    server_warnings: list[warnings.WarningMessage],
) -> Config:
    return Config(
        {
            "ServerApp": {
                "jpserver_extensions": {"zingy_nb": True},
                "allow_unauthenticated_access": allow_unauthenticated,
            },
            "ZingyNb": zingy_settings,
        }
    )


@pytest.fixture
def responses(caplog: pytest.LogCaptureFixture) -> Iterator[list[HTTPResponse]]:
    """Every response a test received; none, nor the server log, may hold a secret."""
    seen: list[HTTPResponse] = []
    yield seen
    for response in seen:
        text = (response.body or b"").decode("utf-8", "replace") + str(response.headers)
        leaked = [value for value in MADE_UP if value in text]
        assert not leaked, f"{response.request.method} {response.request.url} leaked a secret"
    assert not [value for value in MADE_UP if value in caplog.text], "the server logged a secret"


@pytest.fixture
def api(jp_fetch: Any, responses: list[HTTPResponse]) -> Any:
    """``await api(method, *path, body=..., headers=...)`` below ``zingy-nb/api/``."""

    async def call(
        method: str, *path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> HTTPResponse:
        kwargs: dict[str, Any] = {"method": method, "raise_error": False}
        if body is not None:
            kwargs["body"] = body if isinstance(body, (bytes, str)) else json.dumps(body)
        elif method in ("PUT", "PATCH", "POST"):
            kwargs["body"] = b""
        response = await jp_fetch("zingy-nb", "api", *path, headers=headers, **kwargs)
        responses.append(response)
        return response

    return call


def data(response: HTTPResponse) -> Any:
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.body)


def slots(*flags: bool) -> dict[str, bool]:
    return dict(zip(("secret1", "secret2", "secret3", "secret4"), flags))


# -- happy paths ---------------------------------------------------------------------------


async def test_put_creates_a_profile_that_the_store_api_reads_back(
    api: Any, store_home: Path
) -> None:
    # Given an empty store
    assert data(await api("GET", "profiles")) == {"profiles": []}
    # When a profile is PUT with two slots
    response = await api("PUT", "profiles", "stripe", body={"secret1": S1, "secret2": S2})
    # Then the answer is its metadata only, and the store API in this process reads it
    assert response.code == 200
    meta = data(response)
    assert meta["name"] == "stripe"
    assert meta["slots"] == slots(True, True, False, False)
    assert meta["unredacted"] == []
    assert set(meta) == {"name", "slots", "unredacted", "created", "updated"}
    assert Profiles(store_home).secrets("stripe") == (S1, S2, None, None)
    assert data(await api("GET", "profiles", "stripe")) == meta
    assert data(await api("GET", "profiles")) == {"profiles": [meta]}


async def test_put_replaces_every_slot_and_keeps_created(api: Any, store_home: Path) -> None:
    # Given a profile with all four slots
    body = {"secret1": S1, "secret2": S2, "secret3": S3, "secret4": S4}
    first = data(await api("PUT", "profiles", "svc", body=body))
    assert first["slots"] == slots(True, True, True, True)
    # When it is PUT again with secret1 and an explicit null
    second = data(
        await api("PUT", "profiles", "svc", body={"secret1": MADE_UP[4], "secret3": None})
    )
    # Then absent and null optional slots are unset; created stays, updated moves
    assert second["slots"] == slots(True, False, False, False)
    assert second["created"] == first["created"] and second["updated"] >= first["updated"]
    assert Profiles(store_home).secrets("svc") == (MADE_UP[4], None, None, None)


async def test_patch_absent_keeps_string_sets_null_clears(api: Any, store_home: Path) -> None:
    # Given a profile with secret1 and secret2
    await api("PUT", "profiles", "svc", body={"secret1": S1, "secret2": S2})
    # When secret3 is set, nothing else given
    meta = data(await api("PATCH", "profiles", "svc", body={"secret3": S3}))
    # Then the absent slots keep their values
    assert meta["slots"] == slots(True, True, True, False)
    assert Profiles(store_home).secrets("svc") == (S1, S2, S3, None)
    # When secret4 is set to a value too short to be redacted from kernel output
    meta = data(await api("PATCH", "profiles", "svc", body={"secret4": "ab12"}))
    # Then the metadata says so (for the sidebar), in every answer
    assert meta["unredacted"] == ["secret4"]
    assert data(await api("GET", "profiles"))["profiles"][0]["unredacted"] == ["secret4"]
    meta = data(await api("PATCH", "profiles", "svc", body={"secret4": None}))
    assert meta["unredacted"] == []
    # When secret2 is cleared with null and secret1 replaced
    meta = data(
        await api("PATCH", "profiles", "svc", body={"secret2": None, "secret1": MADE_UP[4]})
    )
    # Then only those two change
    assert meta["slots"] == slots(True, False, True, False)
    assert Profiles(store_home).secrets("svc") == (MADE_UP[4], None, S3, None)


async def test_patch_refuses_to_clear_secret1_or_change_nothing(api: Any, store_home: Path) -> None:
    await api("PUT", "profiles", "svc", body={"secret1": S1, "secret2": S2})
    for body, words in (
        ({"secret1": None}, "secret1 cannot be cleared"),
        ({}, "Nothing to update"),
    ):
        response = await api("PATCH", "profiles", "svc", body=body)
        assert response.code == 400
        assert words in data(response)["message"]
    assert Profiles(store_home).secrets("svc") == (S1, S2, None, None)


async def test_delete_answers_204_then_the_profile_is_gone(api: Any, store_home: Path) -> None:
    await api("PUT", "profiles", "gone", body={"secret1": S1})
    await api("PUT", "profiles", "kept", body={"secret1": S2})
    response = await api("DELETE", "profiles", "gone")
    assert response.code == 204 and response.body == b""
    assert (await api("GET", "profiles", "gone")).code == 404
    assert [p["name"] for p in data(await api("GET", "profiles"))["profiles"]] == ["kept"]
    assert [m.name for m in Profiles(store_home).list()] == ["kept"]


async def test_status_describes_store_and_key_without_secrets(api: Any, store_home: Path) -> None:
    # Given no store yet
    status = data(await api("GET", "status"))
    assert status["store_exists"] is False and status["profiles"] == 0
    assert status["key_source"] == "none"
    assert status["store"] == str(store_home / "profiles.db")
    # When a profile is saved (no keyring in tests: the key file fallback)
    await api("PUT", "profiles", "svc", body={"secret1": S1})
    status = data(await api("GET", "status"))
    # Then the store and key file are described, and the key itself is nowhere
    assert status["store_exists"] is True and status["profiles"] == 1
    assert status["key_source"] == "file"
    assert str(store_home / KEY_FILE) in status["key_location"]
    assert status["problem"] is None and isinstance(status["version"], str)
    key_text = (store_home / KEY_FILE).read_text().strip()
    assert key_text and key_text not in json.dumps(status)


async def test_the_change_token_moves_only_when_the_store_changes(
    api: Any, store_home: Path
) -> None:
    async def token() -> str:
        answer = data(await api("GET", "changes"))
        assert list(answer) == ["token"]
        return str(answer["token"])

    # Given no store yet: the token is stable while nothing happens
    first = await token()
    assert await token() == first
    # When another process (the CLI, a kernel) saves a profile, the token moves
    Profiles(store_home).set("from-cli", S1)
    second = await token()
    assert second != first and await token() == second
    # And so it does for a save through this server, and for a delete elsewhere
    await api("PUT", "profiles", "svc", body={"secret1": S2})
    third = await token()
    assert third != second
    Profiles(store_home).delete("from-cli")
    assert await token() != third
    assert S1 not in third and S2 not in third


@pytest.mark.parametrize("zingy_settings", [{}])
async def test_default_store_is_zingy_nb_home(
    api: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given no c.ZingyNb.store_home, and ZINGY_NB_HOME pointing somewhere fresh
    home = tmp_path / "env-home"
    monkeypatch.setenv("ZINGY_NB_HOME", str(home))
    # When a profile is saved through REST
    assert (await api("PUT", "profiles", "svc", body={"secret1": S1})).code == 200
    # Then it is in the ZINGY_NB_HOME store
    assert data(await api("GET", "status"))["store"] == str(home / "profiles.db")
    assert Profiles(home).secrets("svc") == (S1, None, None, None)


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_unknown_profile_is_404(api: Any, method: str) -> None:
    body = {"secret2": S2} if method == "PATCH" else None
    # Without any store, then with a store that lacks the name
    for _ in range(2):
        response = await api(method, "profiles", "nope", body=body)
        assert response.code == 404
        assert "No API Key profile named 'nope'" in data(response)["message"]
        await api("PUT", "profiles", "other", body={"secret1": S1})


BAD_NAMES = ["bad name", "-leading-dash", ".hidden", "x" * 129, "ünï", "a%2Fb", "semi;colon"]


@pytest.mark.parametrize("name", BAD_NAMES)
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
async def test_bad_names_are_400(api: Any, store_home: Path, name: str, method: str) -> None:
    body = {"secret1": S1} if method in ("PUT", "PATCH") else None
    response = await api(method, "profiles", name, body=body)
    assert response.code == 400
    assert "profile name" in data(response)["message"]
    assert not store_home.exists() or Profiles(store_home).list() == []


BAD_BODIES = [
    (b"", "empty"),
    (b"   ", "empty"),
    (b"secret1=" + S1.encode(), "not valid UTF-8 JSON (line 1, column 1)"),
    (b'{"secret1": "' + S1.encode() + b'"', "not valid UTF-8 JSON"),
    (b"\xff\xfe\x00", "not valid UTF-8 JSON"),
    (b"[]", "not a JSON array"),
    (json.dumps(S1).encode(), "not a JSON string"),
    (b"null", "not a JSON null"),
    (b"42", "not a JSON number"),
    (json.dumps({"secret1": S1, "password": S2}).encode(), "Unknown slot"),
    (
        json.dumps({"secret1": 5}).encode(),
        "secret1 must be a JSON string or null, not a JSON number",
    ),
    (json.dumps({"secret1": True}).encode(), "not a JSON boolean"),
    (json.dumps({"secret1": [S1]}).encode(), "not a JSON array"),
    (json.dumps({"secret1": {"v": S1}}).encode(), "not a JSON object"),
    (json.dumps({"secret1": S1, "secret2": ""}).encode(), "secret2 is empty"),
    (json.dumps({"secret1": "\ud800" + S1}).encode(), "lone surrogate"),
    (json.dumps({"secret1": "x" * (64 * 1024 + 1)}).encode(), "the limit is 65536 bytes"),
]


@pytest.mark.parametrize(("body", "words"), BAD_BODIES)
@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_bad_bodies_are_400_and_change_nothing(
    api: Any, store_home: Path, method: str, body: bytes, words: str
) -> None:
    # Given a stored profile
    await api("PUT", "profiles", "svc", body={"secret1": S3, "secret2": S4})
    # When a bad body is sent
    response = await api(method, "profiles", "svc", body=body)
    # Then 400 says what is wrong (never echoing a value) and the profile is unchanged
    assert response.code == 400
    assert words in data(response)["message"]
    assert "password" not in data(response)["message"]  # no key the client sent is echoed
    assert Profiles(store_home).secrets("svc") == (S3, S4, None, None)


TYPED = "sk_live_51HtypedMADEUPtoken9Xq"  # a value pasted where a key or name belongs


@pytest.mark.parametrize(
    "body",
    [{TYPED: S2}, {"secret1": S2, TYPED: None}, {TYPED: 5}, {"secret2": S2, TYPED: [TYPED]}],
    ids=["only", "beside-a-slot", "number", "array"],
)
@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_a_token_sent_as_a_slot_key_is_never_echoed(
    api: Any, store_home: Path, caplog: pytest.LogCaptureFixture, method: str, body: Any
) -> None:
    # Given a stored profile
    await api("PUT", "profiles", "svc", body={"secret1": S1})
    # When a body uses a pasted token as a slot key
    response = await api(method, "profiles", "svc", body=body)
    # Then 400 says a key is unknown, and neither the answer nor the log holds the token
    assert response.code == 400
    assert "Unknown slot" in data(response)["message"]
    assert TYPED not in response.body.decode() + str(response.headers)
    assert TYPED not in caplog.text
    assert Profiles(store_home).secrets("svc") == (S1, None, None, None)


TYPED_NAMES = [f"stripe={TYPED}", f"{TYPED}==", f" {TYPED}", TYPED * 5, f"-{TYPED}", f"{TYPED}+x"]


@pytest.mark.parametrize("name", TYPED_NAMES)
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("token", [None, ""], ids=["authenticated", "no-token"])
async def test_an_invalid_name_is_never_echoed_nor_logged(
    api: Any,
    store_home: Path,
    caplog: pytest.LogCaptureFixture,
    name: str,
    method: str,
    token: str | None,
) -> None:
    # When a pasted token is used as a profile name in the URL
    body = {"secret1": S1} if method in ("PUT", "PATCH") else None
    headers = None if token is None else {"Authorization": token}
    response = await api(method, "profiles", name, body=body, headers=headers)
    # Then it is refused (400, or 403 without a token) without repeating the name,
    # and no log line about the request holds it
    if token is None:
        assert response.code == 400
        message = data(response)["message"]
        assert "Invalid profile name" in message and "letters, digits" in message
    else:
        assert response.code == 403
    assert TYPED not in response.body.decode() + str(response.headers)
    assert TYPED not in caplog.text
    assert "<invalid-name>" in caplog.text
    assert not store_home.exists() or Profiles(store_home).list() == []


@pytest.mark.parametrize(
    "body",
    [{}, {"secret2": S2}, {"secret1": None, "secret2": S2}],
    ids=["empty", "no-secret1", "null-secret1"],
)
async def test_put_needs_secret1(api: Any, store_home: Path, body: dict[str, Any]) -> None:
    response = await api("PUT", "profiles", "svc", body=body)
    assert response.code == 400
    assert "secret1 is required" in data(response)["message"]
    assert not store_home.exists() or Profiles(store_home).list() == []


async def test_missing_key_is_503_with_what_to_do(api: Any, store_home: Path) -> None:
    # Given a store made elsewhere whose key file is then lost
    Profiles(store_home).set("svc", S1)
    (store_home / KEY_FILE).unlink()
    # When the server must encrypt or decrypt
    for method, body in (("PUT", {"secret1": S2}), ("PATCH", {"secret2": S2})):
        response = await api(method, "profiles", "svc", body=body)
        # Then 503 says the key is missing and how to restore it
        assert response.code == 503
        message = data(response)["message"]
        assert "No master key" in message and "zingy-nb key import" in message
    # While metadata, status and delete still work: they need no key
    assert data(await api("GET", "profiles", "svc"))["slots"] == slots(True, False, False, False)
    status = data(await api("GET", "status"))
    assert status["profiles"] == 1 and "No master key" in status["problem"]
    assert (await api("DELETE", "profiles", "svc")).code == 204


# -- authentication, XSRF, auth warnings ---------------------------------------------------

ENDPOINTS = [
    ("GET", ("profiles",)),
    ("GET", ("profiles", "svc")),
    ("PUT", ("profiles", "svc")),
    ("PATCH", ("profiles", "svc")),
    ("DELETE", ("profiles", "svc")),
    ("GET", ("status",)),
    ("GET", ("changes",)),
]


@pytest.mark.parametrize("allow_unauthenticated", [False, True], ids=["strict", "lenient"])
@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize("token", ["", "token not-the-token"], ids=["no-token", "wrong-token"])
async def test_requests_without_the_token_are_refused(
    api: Any, store_home: Path, method: str, path: tuple[str, ...], token: str
) -> None:
    # Given a stored profile (through an authenticated request)
    await api("PUT", "profiles", "svc", body={"secret1": S1})
    body = {"secret1": S2} if method in ("PUT", "PATCH") else None
    # When the request carries no valid token (whatever allow_unauthenticated_access is)
    response = await api(method, *path, body=body, headers={"Authorization": token})
    # Then it is refused and nothing changed
    assert response.code == 403
    assert Profiles(store_home).secrets("svc") == (S1, None, None, None)


async def _cookie_login(client: Any, base_url: str, token: str) -> dict[str, str]:
    """Log in through the /login form, as a browser does; returns the cookies."""
    cookies: dict[str, str] = {}

    def keep(response: HTTPResponse) -> None:
        for header in response.headers.get_list("Set-Cookie"):
            for name, morsel in SimpleCookie(header).items():
                cookies[name] = morsel.value

    login = url_path_join(base_url, "login")
    keep(await client.fetch(login))
    assert "_xsrf" in cookies
    response = await client.fetch(
        login,
        method="POST",
        body=f"_xsrf={cookies['_xsrf']}&password={token}",
        headers={"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())},
        follow_redirects=False,
        raise_error=False,
    )
    assert response.code == 302, response.code
    keep(response)
    assert any(name.startswith("username-") for name in cookies), cookies
    return cookies


@pytest.mark.parametrize(
    ("method", "body"),
    [("PUT", {"secret1": S2}), ("PATCH", {"secret2": S2}), ("DELETE", None)],
)
async def test_cookie_authenticated_writes_need_the_xsrf_token(
    api: Any,
    jp_serverapp: Any,
    http_server_client: Any,
    jp_base_url: str,
    store_home: Path,
    method: str,
    body: Any,
) -> None:
    # Given a browser-like session: a login cookie and an _xsrf cookie, no token
    await api("PUT", "profiles", "svc", body={"secret1": S1})
    cookies = await _cookie_login(
        http_server_client, jp_base_url, jp_serverapp.identity_provider.token
    )
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    no_token = {"Authorization": "", "Cookie": cookie}
    # Then a GET works with the cookie alone
    assert (await api("GET", "profiles", "svc", headers=no_token)).code == 200
    # When a write comes without the X-XSRFToken header, then it is refused, nothing changes
    response = await api(method, "profiles", "svc", body=body, headers=dict(no_token))
    assert response.code == 403
    assert "xsrf" in data(response)["message"].lower()
    assert Profiles(store_home).secrets("svc") == (S1, None, None, None)
    # When it carries the header, then it goes through
    with_xsrf = {**no_token, "X-XSRFToken": cookies["_xsrf"]}
    response = await api(method, "profiles", "svc", body=body, headers=with_xsrf)
    assert response.code == (204 if method == "DELETE" else 200)


class _UndecoratedProbe(APIHandler):
    """A handler missing @web.authenticated: the detector below must notice it."""

    async def get(self) -> None:
        self.finish("{}")


async def test_the_server_warns_about_no_zingy_route(
    api: Any,
    jp_serverapp: Any,
    server_warnings: list[warnings.WarningMessage],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given the server started with the extension and strict authentication
    # When every route is used by an authenticated client
    assert (await api("PUT", "profiles", "svc", body={"secret1": S1})).code == 200
    assert (await api("PATCH", "profiles", "svc", body={"secret2": S2})).code == 200
    for path in (("profiles",), ("profiles", "svc"), ("status",), ("changes",)):
        assert (await api("GET", *path)).code == 200
    assert (await api("DELETE", "profiles", "svc")).code == 204
    # Then no auth warning names a zingy-nb route, and the log has no auth warning at all
    auth_warnings = [
        str(w.message) for w in server_warnings if issubclass(w.category, JupyterServerAuthWarning)
    ]
    assert not [text for text in auth_warnings if "zingy" in text.lower()], auth_warnings
    noisy = [
        r.getMessage()
        for r in caplog.records
        if r.levelname in ("WARNING", "ERROR", "CRITICAL")
        and any(word in r.getMessage().lower() for word in ("authent", "authoriz", "zingy"))
    ]
    assert not noisy, noisy
    # And the check would have caught an undecorated zingy-nb handler
    probe = url_path_join(jp_serverapp.web_app.settings["base_url"], "zingy-nb", "api", "probe")
    jp_serverapp.web_app.add_handlers(".*$", [(probe, _UndecoratedProbe)])
    assert any(
        issubclass(w.category, JupyterServerAuthWarning) and "zingy-nb/api/probe" in str(w.message)
        for w in server_warnings
    )
