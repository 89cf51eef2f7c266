"""Keep ``%store`` (IPython's storemagic) from writing a secret to disk in clear.

``%store token`` pickles the value into the IPython profile's ``db/autorestore``
folder, readable by anything that reads the home directory; ``%store token >file``
writes its text to a file. Both are refused for a value registered with the
redactor (retrieved, or saved in this kernel): whole, or any run of it the redactor
masks, in the pickled bytes or the text. The pickle is read in every encoding it may
hold text in (a numpy string array keeps UTF-32, and protocol 2 writes bytes as
latin-1 text). Everything else is stored as before.

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
import pickletools
import warnings
from collections.abc import Iterator
from typing import Any, Final

from IPython.core.error import UsageError

from .. import redact

_MARK = "_zingy_nb_store_guard"
REFUSAL = (
    "%store refused: this value holds a secret zingy-nb knows (retrieved or saved in this "
    "kernel), and %store would write it to disk in clear. Nothing was stored. Retrieve "
    "it again with zingyConn.apikey(NAME) where it is needed."
)


#: Encodings besides UTF-8 that a pickle may hold text in (numpy string arrays: UTF-32),
#: each with its code unit's width: text may start at any offset modulo it.
_WIDE: Final = (("utf-16-le", 2), ("utf-16-be", 2), ("utf-32-le", 4), ("utf-32-be", 4))


def _readings(data: bytes) -> Iterator[str]:
    """``data`` read as text in UTF-8 and in UTF-16 and UTF-32 of both byte orders, at
    every alignment; what is not text in one reading becomes U+FFFD there."""
    yield data.decode("utf-8", errors="replace")
    for encoding, width in _WIDE:
        for skip in range(min(width, len(data))):
            yield data[skip:].decode(encoding, errors="replace")


def _pickled_bytes(data: bytes) -> Iterator[bytes]:
    """The byte strings inside a pickle, as they were before pickling. Protocol 2
    writes ``bytes`` (a numpy array's buffer among them) as a latin-1 text that
    ``_codecs.encode`` turns back, so their bytes are not in the pickle as they are."""
    try:
        for _, arg, _ in pickletools.genops(data):
            if isinstance(arg, (bytes, bytearray)):
                yield bytes(arg)
            elif isinstance(arg, str) and arg and max(arg) <= "\xff":
                yield arg.encode("latin-1")
    except Exception:  # not a pickle: its own bytes were read already
        return


def holds_secret(data: bytes | str) -> bool:
    """Whether ``data`` contains a registered value (or a run the redactor masks): in
    text, or in bytes in any encoding a pickle may hold it in (``_WIDE``), also inside
    the byte strings a pickle holds."""
    spans = redact.redactor.spans
    if isinstance(data, str):
        return bool(spans(data))
    return any(spans(text) for blob in (data, *_pickled_bytes(data)) for text in _readings(blob))


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
