"""The hostile table with the master key locked with a passphrase, unlocked in the agent; see ``table``."""

from __future__ import annotations

from .table import MARKS, TableTests

pytestmark = MARKS


class TestLockedCustody(TableTests):
    CUSTODY = "locked"
