"""The profile store: one interface (``base``), two backends (``sqlite``, ``postgres``).

``url`` picks the backend for a process (the embedded file, or a team store by
``ZINGY_NB_STORE_URL``); ``migrations`` holds both backends' versioned schemas.
"""
