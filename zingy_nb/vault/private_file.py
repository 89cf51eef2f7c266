"""Files only their owner reads, written whole: key files, locked keys, pins."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_private(path: Path | str, text: str, *, replace: bool = True) -> bool:
    """Write a file only its owner can read, atomically and durably.

    With ``replace=False`` a file already at ``path`` is kept and False is returned.
    Each writer has its own temporary file, so concurrent writers never mix contents.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # appears complete, and only if nothing is there
            except FileExistsError:
                return False
    finally:
        Path(tmp).unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return True
