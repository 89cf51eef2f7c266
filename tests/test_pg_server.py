"""The server extension on a team store: its REST API works and never shows the URL's
password (nor the member's own key: a team store has no master key, alice has joined)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config

from tests import postgres
from tests.postgres import PASSWORDS, PgServer
from zingy_nb.paths import HOME_ENV, MEMBER_KEY_ENV
from zingy_nb.store.url import URL_ENV
from zingy_nb.vault.custody import ENV_VAR as KEY_ENV

pg_server = postgres.pg_server
team_db = postgres.team_db


@pytest.fixture
def member_key(
    request: pytest.FixtureRequest, pg_server: PgServer, team_db: str, tmp_path: Path
) -> str:
    """alice joins the team store from the server's zingy-nb home (her key file there),
    unless a test says ``indirect`` False: then she has not joined ("")."""
    if not getattr(request, "param", True):
        return ""
    return pg_server.join(team_db, tmp_path / "home", ["alice"])["alice"]


@pytest.fixture
def team_url(
    pg_server: PgServer,
    team_db: str,
    member_key: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> str:
    """The server process is put on a team store as member alice, before it starts; no
    master key is set (none exists on a team store)."""
    url = pg_server.url("alice", team_db)
    monkeypatch.setenv(URL_ENV, url)
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(MEMBER_KEY_ENV, raising=False)
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    return url


@pytest.fixture
def jp_server_config(team_url: str) -> Config:
    return Config({"ServerApp": {"jpserver_extensions": {"zingy_nb": True}}})


async def test_rest_api_on_a_team_store_hides_the_password(
    jp_fetch: Any, team_url: str, member_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    password = PASSWORDS["alice"]
    assert password in team_url
    put = await jp_fetch(
        "zingy-nb", "api", "profiles", "team-svc", method="PUT",
        body=json.dumps({"secret1": "team-MADEUP-value"}),
    )  # fmt: skip
    assert put.code == 200
    listed = json.loads((await jp_fetch("zingy-nb", "api", "profiles")).body)
    assert [p["name"] for p in listed["profiles"]] == ["team-svc"]
    status = await jp_fetch("zingy-nb", "api", "status")
    body = status.body.decode()
    assert "alice@" in json.loads(body)["store"]
    assert json.loads(body)["problem"] is None  # her member key is found and published
    for text in (body, put.body.decode(), caplog.text):
        assert password not in text
        assert member_key not in text
        assert "team-MADEUP-value" not in text


@pytest.mark.parametrize("member_key", [False], indirect=True)
async def test_before_joining_the_api_says_to_join_and_writes_nothing(
    jp_fetch: Any, pg_server: PgServer, team_db: str, member_key: str
) -> None:
    from tornado.httpclient import HTTPClientError

    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(
            "zingy-nb", "api", "profiles", "team-svc", method="PUT",
            body=json.dumps({"secret1": "team-MADEUP-value"}),
        )  # fmt: skip
    assert err.value.code == 503
    answer = json.loads(err.value.response.body)["message"]
    assert "zingy-nb team join" in answer and "team-MADEUP-value" not in answer
    status = json.loads((await jp_fetch("zingy-nb", "api", "status")).body)
    assert (status["key_kind"], status["key_source"]) == ("member", "none")
    assert "zingy-nb team join" in status["problem"]
    listed = json.loads((await jp_fetch("zingy-nb", "api", "profiles")).body)
    assert listed["profiles"] == []
    for table in ("profiles", "members", "store_meta"):
        assert pg_server.sql(f"SELECT count(*) FROM zingy_nb.{table}", db=team_db) == [(0,)]
