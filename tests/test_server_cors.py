"""CORS on zingy-nb's REST API, on a real Jupyter server (pytest-jupyter).

jupyter_server answers a token-authenticated request from any web page's ``Origin`` with
that origin in ``Access-Control-Allow-Origin``: a page holding a token could read the
answers. zingy-nb's handlers send the header only for an origin the server was
configured to trust (``ServerApp.allow_origin`` or ``allow_origin_pat``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config

FOREIGN = "https://foreign.example"
TRUSTED = "https://lab.example"
ALLOW = "Access-Control-Allow-Origin"
ROUTES = [("profiles",), ("status",), ("profiles", "stripe"), ("profiles", "stripe", "notebooks")]


@pytest.fixture
def cors() -> dict[str, Any]:
    """``ServerApp`` CORS settings of the server; a test may parametrize it."""
    return {}


@pytest.fixture
def jp_server_config(tmp_path: Path, cors: dict[str, Any]) -> Config:
    return Config(
        {
            "ServerApp": {
                "jpserver_extensions": {"zingy_nb": True},
                "allow_unauthenticated_access": False,
                **cors,
            },
            "ZingyNb": {"store_home": str(tmp_path / "zingy-store")},
        }
    )


async def get(jp_fetch: Any, *path: str, origin: str) -> Any:
    # jp_fetch sends the server's token in an Authorization header: token-authenticated
    return await jp_fetch(*path, headers={"Origin": origin}, raise_error=False)


async def test_a_foreign_origin_gets_no_cors_header(jp_fetch: Any) -> None:
    # Given a server with no CORS settings, When a token-authenticated request comes
    # from a foreign page, Then no zingy-nb answer (success or error) allows it
    for route in ROUTES:
        response = await get(jp_fetch, "zingy-nb", "api", *route, origin=FOREIGN)
        assert ALLOW not in response.headers, route
    # (jupyter_server's own API does echo it: the requests were token-authenticated)
    own = await get(jp_fetch, "api", "status", origin=FOREIGN)
    assert own.headers.get(ALLOW) == FOREIGN


@pytest.mark.parametrize("cors", [{"allow_origin_pat": r"https://lab\.example"}])
async def test_only_an_origin_the_pattern_matches_is_allowed(jp_fetch: Any) -> None:
    trusted = await get(jp_fetch, "zingy-nb", "api", "status", origin=TRUSTED)
    assert trusted.code == 200 and trusted.headers.get(ALLOW) == TRUSTED
    foreign = await get(jp_fetch, "zingy-nb", "api", "status", origin=FOREIGN)
    assert foreign.code == 200 and ALLOW not in foreign.headers
    # nor in the answer to a preflight (jupyter_server echoes any origin there once a
    # pattern is set)
    for origin, allowed in ((FOREIGN, False), (TRUSTED, True)):
        preflight = await jp_fetch(
            "zingy-nb", "api", "profiles", method="OPTIONS", raise_error=False,
            headers={"Origin": origin, "Access-Control-Request-Headers": "authorization"},
        )  # fmt: skip
        assert (preflight.headers.get(ALLOW) == origin) is allowed, origin
        assert (ALLOW in preflight.headers) is allowed, origin


@pytest.mark.parametrize("cors", [{"allow_origin": TRUSTED}])
async def test_a_configured_origin_is_sent_as_configured(jp_fetch: Any) -> None:
    for origin in (TRUSTED, FOREIGN):
        response = await get(jp_fetch, "zingy-nb", "api", "profiles", origin=origin)
        assert response.headers.get(ALLOW) == TRUSTED
