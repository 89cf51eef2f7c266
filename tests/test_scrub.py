"""Save-time scrub through Jupyter's contents REST API on a real server (pytest-jupyter).

Every test runs on both store backends (``tests.postgres.store_backend``): the server
scrubs the values of whichever store it uses.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config

from tests import postgres
from tests.postgres import Backend
from zingy_nb.keys import ENV_VAR as KEY_ENV
from zingy_nb.server.scrub import EVENT_SCHEMA_ID

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
def jp_server_config(store_home: Path, scrub_settings: dict[str, Any]) -> Config:
    return Config(
        {
            "ServerApp": {"jpserver_extensions": {"zingy_nb": True}},
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


async def save(jp_fetch: Any, path: str, model: dict[str, Any]) -> Any:
    return await jp_fetch("api", "contents", path, method="PUT", body=json.dumps(model))


def forms(value: str) -> list[bytes]:
    return [value.encode(), base64.b64encode(value.encode())]


async def test_saving_a_notebook_scrubs_every_stored_value(
    jp_fetch: Any, jp_root_dir: Path, jp_serverapp: Any, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[dict[str, Any]] = []

    async def listener(logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        events.append(data)

    jp_serverapp.event_logger.add_listener(schema_id=EVENT_SCHEMA_ID, listener=listener)
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


async def test_without_a_usable_key_the_save_succeeds_unscrubbed_and_warns(
    jp_fetch: Any,
    jp_root_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv(KEY_ENV)  # the store's only key
    response = await save(jp_fetch, "x.txt", {"type": "file", "format": "text", "content": "text"})
    assert response.code in (200, 201)
    assert (jp_root_dir / "x.txt").read_text() == "text"
    assert "saved x.txt WITHOUT scrubbing stored secrets" in caplog.text
    assert "zingy-nb key import" in caplog.text
