"""Registers the ``hostile`` marker (the suite runs with ``--strict-markers``)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "hostile: the hostile-notebook table, run as an unprivileged user"
    )
