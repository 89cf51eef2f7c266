"""The Jupyter server extension: the profile store's REST API for the JupyterLab front-end.

``zingy_nb._load_jupyter_server_extension`` calls ``load`` here. The routes are in
``handlers``, the settings (``c.ZingyNb.*``) in ``config``.
"""

from __future__ import annotations

from .extension import load

__all__ = ["load"]
