"""The hostile table with the master key in the launching environment (the runners' custody); see ``table``."""

from __future__ import annotations

from .table import MARKS, TableTests

pytestmark = MARKS


class TestEnvironmentCustody(TableTests):
    CUSTODY = "environment"
