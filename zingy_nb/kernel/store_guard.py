"""Keep ``%store`` (IPython's storemagic) from writing a secret to disk in clear.

``%store token`` pickles the value into the IPython profile's ``db/autorestore``
folder, readable by anything that reads the home directory; ``%store token >file``
writes its text to a file. Both are refused for a value registered with the
redactor (retrieved, or saved in this kernel): whole, or any run of it the redactor
masks, in the pickled bytes or the text. Everything else is stored as before.

The main guard sits where the bytes are written, not in the magic's parsing: the
shell's ``db`` (a ``PickleShareDB``) gets a subclass whose ``__setitem__`` checks
first, so any code writing to ``get_ipython().db`` is covered, and it outlives a
reload of storemagic. The ``>file`` check wraps the ``%store`` magic itself (a reload
of storemagic drops it until ``install`` runs again). ``install`` is idempotent, also
across ``%reload_ext zingy_nb``.
"""

from __future__ import annotations

import functools
import pickle
import warnings
from typing import Any

from IPython.core.error import UsageError

from .. import redact

_MARK = "_zingy_nb_store_guard"
REFUSAL = (
    "%store refused: this value holds a secret zingy-nb knows (retrieved or saved in this "
    "kernel), and %store would write it to disk in clear. Nothing was stored. Retrieve "
    "it again with zingyConn.apikey(NAME) where it is needed."
)


def holds_secret(data: bytes | str) -> bool:
    """Whether ``data`` contains a registered value (or a run the redactor masks)."""
    text = data if isinstance(data, str) else data.decode("utf-8", errors="replace")
    return bool(redact.redactor.spans(text))


def _check_value(value: Any) -> None:
    try:
        data = pickle.dumps(value, protocol=2)  # what PickleShareDB writes
    except Exception:
        return  # not picklable: the store itself fails, writing nothing
    if holds_secret(data):
        raise UsageError(REFUSAL)


def _guarded_class(base: Any) -> type:
    """``base`` with a ``__setitem__`` that refuses secrets before anything is written."""

    def __setitem__(self: Any, key: Any, value: Any) -> None:
        _check_value(value)
        base.__setitem__(self, key, value)

    return type(base.__name__, (base,), {"__setitem__": __setitem__, _MARK: True})


def _guard_db(shell: Any) -> None:
    db = shell.db
    if getattr(type(db), _MARK, False):
        return
    try:
        db.__class__ = _guarded_class(type(db))
    except TypeError:  # not IPython's PickleShareDB: someone replaced shell.db
        warnings.warn(
            f"zingy-nb cannot guard this shell's db ({type(db).__name__}): %store may "
            "write secrets to disk in clear.",
            stacklevel=3,
        )


def _guard_file_form(shell: Any) -> None:
    """``%store VALUE >file``: check the evaluated value before storemagic writes it.

    storemagic evaluates ``VALUE`` with ``shell.ev`` once; during the magic that call is
    checked, so the expression is not evaluated twice. The file is already opened (and,
    with ``>``, emptied) when the refusal comes, but nothing of the value is written.
    """
    magics = shell.magics_manager.magics["line"]
    store = magics.get("store")
    if store is None or getattr(store, _MARK, False):
        return

    @functools.wraps(store)
    def guarded(line: str = "", *args: Any, **kwargs: Any) -> Any:
        if ">" not in line:
            return store(line, *args, **kwargs)
        evaluate = shell.ev

        def ev(expr: str) -> Any:
            obj = evaluate(expr)
            # storemagic writes str(obj) or pprint(obj); repr is never split across lines.
            if holds_secret(obj if isinstance(obj, str) else repr(obj)):
                raise UsageError(REFUSAL)
            _check_value(obj)
            return obj

        own = vars(shell).get("ev")
        shell.ev = ev
        try:
            return store(line, *args, **kwargs)
        finally:
            if own is None:
                del shell.ev  # the class's method again
            else:
                shell.ev = own

    setattr(guarded, _MARK, True)
    magics["store"] = guarded


def install(shell: Any) -> None:
    """Guard ``%store`` in this shell (idempotent; safe on ``%reload_ext``)."""
    _guard_db(shell)
    _guard_file_form(shell)
