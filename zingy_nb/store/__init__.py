"""The profile store: one interface (``base``), two backends (``sqlite``, ``postgres``).

``url`` picks the backend for a process (the embedded file, or a team store by
``ZINGY_NB_STORE_URL``); ``migrations`` holds both backends' versioned schemas. The
interface is re-exported here, where ``zingy_nb.store`` always had it.
"""

from .base import (
    ACCESS_ASK,
    ACCESS_OFF,
    ACCESS_SETTINGS,
    LEVELS,
    Allowance,
    AuditEntry,
    Grant,
    NotebookCheck,
    Row,
    Store,
    StoreInfo,
    Transaction,
    slots_from_mask,
    slots_mask,
    utcnow,
)

__all__ = [
    "ACCESS_ASK",
    "ACCESS_OFF",
    "ACCESS_SETTINGS",
    "LEVELS",
    "Allowance",
    "AuditEntry",
    "Grant",
    "NotebookCheck",
    "Row",
    "Store",
    "StoreInfo",
    "Transaction",
    "slots_from_mask",
    "slots_mask",
    "utcnow",
]
