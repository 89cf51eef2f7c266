"""The panel's read-only view of the notebooks allowed to read the selected profile.

Read-only on purpose: a kernel gets no way to allow or disallow (see ``access``); the
dialog, JupyterLab's API Keys sidebar, the CLI and the REST API manage allowances. The
panel's widget state may be saved in the notebook, so a path is shown with as little
local detail as still names it: this kernel's own notebook as "this notebook", one
below the kernel's working folder (the notebook's folder) relative to it, one below the
home folder with ``~``.
"""

from __future__ import annotations

import html
import os

import ipywidgets as w

from .. import access
from ..errors import ZingyError
from ..profiles import Profiles

MANAGE = "manage them in JupyterLab's API Keys sidebar or with zingy-nb profiles allow|disallow"


def shown_path(notebook: str, here: str | None, cwd: str, home: str) -> str:
    """How the panel names an allowed notebook (see the module docstring)."""
    if notebook == here:
        return "this notebook"
    for folder, prefix in ((cwd, ""), (home, "~" + os.sep)):
        base = folder.rstrip(os.sep) + os.sep
        if folder and notebook.startswith(base):
            return prefix + notebook[len(base) :]
    return notebook


class AllowedNotebooks(w.HTML):
    """One line: the notebooks allowed to read a profile, or that none is."""

    def __init__(self, here: str | None = None) -> None:
        super().__init__()
        self._here = here if here is not None else access.notebook()

    def show(self, profiles: Profiles, name: str | None) -> None:
        """Show the allowances of ``name`` (an existing profile), or nothing for None."""
        if not name:
            self.value = ""
            return
        try:
            found = access.allowances(profiles, name)
        except ZingyError:
            self.value = ""
            return
        cwd, home = os.getcwd(), os.path.expanduser("~")
        paths = sorted({shown_path(a.notebook, self._here, cwd, home) for a in found})
        quoted = html.escape(repr(name), quote=False)
        if paths:
            items = ", ".join(f"<code>{html.escape(p, quote=False)}</code>" for p in paths)
            text = f"Notebooks allowed to read {quoted}: {items}"
        else:
            text = f"No notebook is allowed to read {quoted} yet"
        self.value = f"<span style='opacity:.8'>{text} ({html.escape(MANAGE, quote=False)}).</span>"
