"""The server extension on a team store: its REST API works and never shows the URL's password."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config

from tests import postgres
from tests.postgres import PASSWORDS, PgServer
from zingy_nb.crypto import encode_key, new_key

pg_server = postgres.pg_server
team_db = postgres.team_db


@pytest.fixture
def team_url(
    pg_server: PgServer, team_db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> str:
    """The server process is put on a team store as member alice, before it starts."""
    url = pg_server.url("alice", team_db)
    monkeypatch.setenv("ZINGY_NB_STORE_URL", url)
    monkeypatch.setenv("ZINGY_NB_MASTER_KEY", encode_key(new_key()))
    monkeypatch.setenv("ZINGY_NB_HOME", str(tmp_path / "home"))
    return url


@pytest.fixture
def jp_server_config(team_url: str) -> Config:
    return Config({"ServerApp": {"jpserver_extensions": {"zingy_nb": True}}})


async def test_rest_api_on_a_team_store_hides_the_password(
    jp_fetch: Any, team_url: str, caplog: pytest.LogCaptureFixture
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
    for text in (body, put.body.decode(), caplog.text):
        assert password not in text
        assert "team-MADEUP-value" not in text
