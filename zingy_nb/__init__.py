"""zingy-nb: Zingy's API Key service in Jupyter.

``zingyConn.apikey(name)`` retrieves a profile in cloud-flow kernels; ``%zingy_apikey``
manages profiles. Heavy parts (keyring, ipywidgets, the server) load only when used.
"""

from __future__ import annotations

from ._version import __version__

TYPE_CHECKING = False  # not typing's: the kernel launcher cannot afford importing typing
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "KeyInfo",
    "Profiles",
    "ZingyConn",
    "__version__",
    "get_profiles",
    "panel",
    "zingyConn",
]


def __getattr__(name: str) -> Any:
    # Lazy, so `import zingy_nb` (and kernel start with the extension) stays cheap.
    if name in ("zingyConn", "ZingyConn", "KeyInfo"):
        from .kernel import conn

        return getattr(conn, name)
    if name == "panel":  # a callable module: zingy_nb.panel() shows the panel
        import importlib

        return importlib.import_module(".kernel.panel", __name__)
    if name in ("Profiles", "get_profiles"):
        from . import profiles
        from .agent.person import serve_locked_stores

        serve_locked_stores()  # a locked store: through its agent, which holds the key

        return getattr(profiles, name)
    raise AttributeError(f"module 'zingy_nb' has no attribute {name!r}")


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the prebuilt JupyterLab extension is (for ``jupyter labextension develop``)."""
    return [{"src": "labextension", "dest": "zingy-nb"}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """The Jupyter server extension: this module, loaded by the function below."""
    return [{"module": "zingy_nb"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    """Register the REST API (``<base_url>/zingy-nb/api/``) on a Jupyter server."""
    from .server import load

    load(server_app)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext zingy_nb`` / ``--ext=zingy_nb``: the magic and ``zingyConn``."""
    from .kernel.extension import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .kernel.extension import unload

    unload(ipython)
