"""Confined kernels: what a kernel started from the zingy kernelspecs cannot reach.

After the launcher (``agent.launch``) has registered the kernel with the agent, it
``exec``s bubblewrap (``bwrap``) around the kernel instead of the kernel itself, so the
kernel and every process it starts run in their own mount and pid namespaces:

- **private temp folders** (``/tmp``, ``/var/tmp``, ``$TMPDIR``: an empty tmpfs each;
  what the kernel works in is brought back from under them): other kernels' connection
  files (nbclient's, papermill's), other agents' folders;
- **hidden** (an empty tmpfs): Jupyter's runtime folder (other kernels' connection
  files, the server's token files), ``XDG_RUNTIME_DIR`` (the D-Bus session bus,
  gnome-keyring's sockets), the keyring's files; the store's key files and a D-Bus
  socket elsewhere cannot be read or connected to (``/dev/null`` bound over them);
- **kept**: the kernel's own connection file, and its agent's folder read-only (its
  socket: the kernel asks the agent, with the capability it was given);
- **read-only**: what later runs unconfined: the Python prefix and every folder on the
  path, the bytecode cache (``PYTHONPYCACHEPREFIX``), the user's site-packages and
  ``~/.local/bin``, Jupyter's kernelspecs and config folder, IPython's start-up folders
  and config files, shell start-up files;
- **other processes are not there**: a fresh ``/proc`` of the kernel's pid namespace
  (no ``/proc/PID/environ`` or ``mem`` of the agent, the server or the launcher), and
  every process in it stays a descendant of the registered pid (a child that
  double-forks is reparented to the namespace's init, not to the system's), so the
  agent takes it for the kernel's, never for a person's.

Landlock (ABI 6 and later) scopes the launcher, so bwrap and the kernel too: no
signal to a process outside, no connection to an abstract Unix socket made outside
(a D-Bus bus on an abstract address). ``PR_SET_NO_NEW_PRIVS`` comes with it (no
``sudo`` in a confined kernel). Where bwrap is missing or cannot make namespaces the
kernel starts unconfined and the launcher says so in one line; ``ZINGY_NB_CONFINE=off``
in the launching environment turns confinement off on purpose. docs/confinement.md
says why these parts, and what stays reachable.

Every kernel start pays for this, so it uses ``os`` and ``where`` alone in the usual
case (as ``fastpath`` does), and ``ctypes`` for Landlock.
"""

from __future__ import annotations

import os
import sys

from ..paths import URL_ENV
from . import where

#: ``off`` (or ``0``, ``no``, ``false``) in the launching environment: no confinement.
CONFINE_ENV = "ZINGY_NB_CONFINE"
OFF = ("off", "0", "no", "false")
#: Tokens that drive a Jupyter server (or JupyterHub) as the user: not in the kernel.
SERVER_TOKENS = ("JUPYTER_TOKEN", "JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN")
#: ipykernel's parent poller: in its pid namespace the kernel's parent is pid 1, which
#: the poller takes for a dead parent. ``1`` turns the poller off (and, unlike no value,
#: keeps ipykernel's banner off the runner's output); bwrap's ``--die-with-parent``
#: does its job.
PARENT_ENV = "JPY_PARENT_PID"
#: The shell start-up files kept read-only where they exist (relative to HOME).
SHELL_FILES = (
    ".profile", ".bashrc", ".bash_profile", ".bash_login", ".bash_logout",
    ".zshenv", ".zshrc", ".zprofile", ".zlogin", ".config/fish/config.fish",
)  # fmt: skip
IPYTHON_CONFIGS = (
    "ipython_config.py", "ipython_kernel_config.py",
    "ipython_config.json", "ipython_kernel_config.json",
)  # fmt: skip
#: The locked key's file (``vault.locked.LOCKED_FILE``): not masked.
LOCKED_SUFFIX = ".key.locked"
#: /dev entries a kernel keeps (GPUs: NVIDIA, DRM, AMD's KFD).
ACCELERATORS = ("nvidia", "dri", "kfd")
#: Landlock: ``LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL`` (ABI 6).
_SCOPES = 0x1 | 0x2
_SCOPED_ABI = 6
_SYS_CREATE_RULESET = 444  # the unified numbers: x86-64 and arm64 alike
_SYS_RESTRICT_SELF = 446
_PR_SET_NO_NEW_PRIVS = 38


def wanted(environ: dict[str, str]) -> bool:
    return (environ.get(CONFINE_ENV) or "").strip().lower() not in OFF


def bwrap() -> str | None:
    """Path of the ``bwrap`` executable, or None."""
    for folder in (os.environ.get("PATH") or os.defpath).split(os.pathsep):
        path = os.path.join(folder or ".", "bwrap")
        if os.access(path, os.X_OK) and os.path.isfile(path):
            return path
    return None


def unusable(bwrap_path: str) -> str | None:
    """Why ``bwrap`` cannot confine here (no user namespaces...), or None: a sandbox of
    the kind ``Plan.argv`` makes is started once, running ``true``."""
    true = "/bin/true" if os.path.exists("/bin/true") else "/usr/bin/true"
    probe = [bwrap_path, "--bind", "/", "/", "--dev", "/dev", "--unshare-pid", "--proc", "/proc",
             "--die-with-parent", "--tmpfs", "/tmp", "--", true]  # fmt: skip
    read, write = os.pipe()
    try:
        pid = os.posix_spawn(
            bwrap_path,
            probe,
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, write, 2),
                (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
            ],
        )
    except OSError as exc:
        os.close(read)
        os.close(write)
        return str(exc)
    os.close(write)
    with os.fdopen(read, "rb") as err:
        said = err.read(2000).decode("utf-8", "replace").strip()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) == 0:
        return None
    return said.splitlines()[-1] if said else f"bwrap exited {status}"


def _runtime_dir(environ: dict[str, str]) -> str:
    found = where._runtime_dir(environ)
    if found is None:
        from jupyter_core.paths import jupyter_runtime_dir

        found = jupyter_runtime_dir()
    return os.path.realpath(found)


def _data_dir(environ: dict[str, str]) -> str:
    found = where._data_dir(environ)
    if found is None:
        from jupyter_core.paths import jupyter_data_dir

        found = jupyter_data_dir()
    return os.path.realpath(found)


def _store_home(environ: dict[str, str]) -> str:
    found = where._home(environ)
    if found is None:
        from ..paths import store_home

        found = str(store_home())
    return os.path.realpath(found)


def _agent_folder(environ: dict[str, str]) -> str:
    found = where.agent_socket(environ)
    if found is not None:
        return os.path.realpath(os.path.dirname(found[1]))
    from .location import StoreLocation

    return os.path.realpath(StoreLocation.current().folder())


def _under(path: str, folders: list[str]) -> bool:
    return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)


def _bus_sockets(environ: dict[str, str]) -> list[str]:
    """The socket paths of the D-Bus session bus address (``unix:path=...``)."""
    found = []
    for entry in (environ.get("DBUS_SESSION_BUS_ADDRESS") or "").split(";"):
        if entry.startswith("unix:"):
            for part in entry[len("unix:") :].split(","):
                if part.startswith("path="):
                    found.append(part[len("path=") :])
    return found


def _devices() -> list[str]:
    """The accelerators' device nodes (``--dev /dev`` makes a minimal /dev, with its own
    pseudo-terminals and ``/dev/shm``)."""
    try:
        names = os.listdir("/dev")
    except OSError:
        return []
    return [f"/dev/{n}" for n in sorted(names) if n.startswith(ACCELERATORS)]


def _key_file(name: str) -> bool:
    """Whether ``name`` in a store folder holds a key: ``master.key`` and its pending
    and temporary files, ``member.key``, a role's. Not the locked file: its key is
    wrapped, and the kernel watches its time to drop what it holds on ``zingy-nb lock``
    (its stat would be ``/dev/null``'s behind a mask)."""
    bare = name.lstrip(".")  # a key being written: ``.master.key.XXXX.tmp``
    return (
        bare.startswith(("master.key", "member"))
        and ".key" in bare
        and not bare.endswith(LOCKED_SUFFIX)
    )


def _database_paths(environ: dict[str, str]) -> list[str]:
    """A team store's socket folder and password file, where they are paths (libpq's
    ``host=/folder`` in the URL or ``PGHOST``, ``PGPASSFILE``): the kernel reads its
    metadata from the database itself."""
    found = [environ.get("PGHOST") or "", environ.get("PGPASSFILE") or ""]
    url = environ.get(URL_ENV) or ""
    for part in url.partition("?")[2].split("&"):
        name, _, value = part.partition("=")
        if name in ("host", "passfile"):
            from urllib.parse import unquote

            found += unquote(value).split(",")
    return [p for p in found if p.startswith("/") and os.path.exists(p)]


def _mkdirs(path: str) -> str:
    """``path``, made (0700) if missing, so that it can be kept read-only."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError:
        pass
    return path


def _jupyter_migrated(config: str) -> None:
    """Migrate IPython-era config as Jupyter's applications do on their first run, if
    none did yet: each writes a ``migrated`` marker into the config folder and fails
    where it cannot, so in the sandbox (read-only there) ``!jupyter nbconvert`` would."""
    if os.path.exists(os.path.join(config, "migrated")):
        return
    try:
        from jupyter_core.migrate import migrate

        migrate()
    except Exception:  # left for the next start, or the next Jupyter app
        pass


class Plan:
    """The folders and files a confined kernel gets, in bwrap's order: private temp
    folders, what the kernel works in brought back from under them, what stays
    read-only, what is hidden, what is kept inside hidden folders, what reads empty."""

    def __init__(self, environ: dict[str, str], kernel: list[str]) -> None:
        home = os.path.realpath(os.path.expanduser("~"))
        data = _data_dir(environ)
        store = _store_home(environ)
        cwd = os.path.realpath(os.getcwd())
        tmp = os.path.realpath(environ.get("TMPDIR") or "/tmp")
        ipython = environ.get("IPYTHONDIR") or f"{home}/.ipython"
        config = environ.get("JUPYTER_CONFIG_DIR") or f"{home}/.jupyter"
        # Other kernels' connection files (nbclient and papermill write them there)
        # and whatever else processes leave in the temp folders: a private, empty one
        self.temp = _existing("/tmp", "/var/tmp", tmp)
        # Bytecode caches run later, unconfined: visible (or every import compiles
        # from source), never writable. ``sys.pycache_prefix``: PYTHONPYCACHEPREFIX.
        self.pycache = sys.pycache_prefix or ""
        # Made now if missing (the agent makes the store later, say): a folder made
        # inside the sandbox's private temp folder would be the kernel's alone
        made = [store, data, ipython, config, self.pycache]
        made += [environ.get(f"XDG_{n}_HOME") or "" for n in ("DATA", "CONFIG", "CACHE")]
        needed = [cwd, home, sys.prefix, sys.exec_prefix, *(_mkdirs(p) for p in made if p)]
        _jupyter_migrated(config)
        needed += [p for p in sys.path if p]
        needed += _database_paths(environ)
        back = (p for p in needed if _under(os.path.realpath(p), self.temp))
        self.back = _existing(*back, files=True)
        hidden = _existing(
            _runtime_dir(environ),
            where.temp_agents(tmp),
            environ.get("XDG_RUNTIME_DIR") or "",
            f"/run/user/{os.getuid()}",
            os.path.join(environ.get("XDG_DATA_HOME") or f"{home}/.local/share", "keyrings"),
        )  # those inside a private temp folder are gone already
        self.hidden = [h for h in hidden if not _under(h, self.temp) or _under(h, self.back)]
        gone = self.temp + self.hidden
        self.kept: list[tuple[str, bool]] = []  # (path, writable) inside hidden folders
        agent = _agent_folder(environ)
        if _under(agent, gone) and os.path.isdir(agent):
            self.kept.append((agent, False))
        if _under(store, self.hidden) and os.path.isdir(store):
            self.kept.append((store, True))  # metadata: read by the kernel itself
        for arg in kernel:
            path = os.path.realpath(arg.rpartition("=")[2]) if arg else ""
            if path and _under(path, gone) and os.path.isfile(path):
                self.kept.append((path, True))  # the kernel's connection file
        self.read_only = self._read_only(home, data, ipython, config)
        masked = _bus_sockets(environ)
        try:
            masked += [e.path for e in os.scandir(store) if _key_file(e.name) and e.is_file()]
        except OSError:
            pass  # no store yet
        self.masked = [p for p in masked if os.path.exists(p) and not _under(p, self.hidden)]
        self.devices = _devices()

    def _visible(self, path: str) -> bool:
        """Whether ``path`` is there in the sandbox before the kept ones come back."""
        if _under(path, self.hidden):
            return False
        return not _under(path, self.temp) or _under(path, self.back)

    def _read_only(self, home: str, data: str, ipython: str, config: str) -> list[str]:
        wanted = [sys.prefix, sys.exec_prefix, self.pycache]
        wanted += [p for p in sys.path if p and os.path.realpath(p) != os.path.realpath(".")]
        site = sys.modules.get("site")
        user_base = site.getuserbase() if site is not None else f"{home}/.local"
        user_site = site.getusersitepackages() if site is not None else ""
        wanted += [_mkdirs(user_site) if user_site else "", _mkdirs(f"{user_base}/bin")]
        wanted += [_mkdirs(os.path.join(data, "kernels")), config]  # made in __init__
        _mkdirs(f"{ipython}/profile_default/startup")
        try:
            profiles = [e.path for e in os.scandir(ipython) if e.name.startswith("profile_")]
        except OSError:
            profiles = []
        for profile in profiles:
            wanted.append(f"{profile}/startup")
            wanted += [f"{profile}/{name}" for name in IPYTHON_CONFIGS]
        wanted += [f"{home}/{name}" for name in SHELL_FILES]
        out: list[str] = []
        for path in sorted({os.path.realpath(p) for p in wanted if p}, key=len):
            if path == "/" or _under(path, out) or not os.path.exists(path):
                continue
            if os.access(path, os.W_OK) and self._visible(path):
                out.append(path)
        return out

    def argv(self, bwrap_path: str, kernel: list[str]) -> list[str]:
        args = [bwrap_path, "--bind", "/", "/", "--dev", "/dev", "--unshare-pid",
                "--proc", "/proc", "--die-with-parent"]  # fmt: skip
        for device in self.devices:
            args += ["--dev-bind", device, device]
        for path in self.temp:
            args += ["--perms", "1777" if path in ("/tmp", "/var/tmp") else "0700"]
            args += ["--tmpfs", path]
        for path in self.back:
            args += ["--bind", path, path]
        for path in self.read_only:
            args += ["--ro-bind", path, path]
        for path in self.hidden:
            args += ["--tmpfs", path]
        for path, writable in self.kept:
            args += ["--bind" if writable else "--ro-bind", path, path]
        for path in self.masked:
            args += ["--ro-bind", "/dev/null", path]
        return [*args, "--", *kernel]


def _existing(*paths: str, files: bool = False) -> list[str]:
    """The folders (and with ``files``, files) among ``paths`` that exist, none inside
    another, shortest first."""
    out: list[str] = []
    for path in sorted({os.path.realpath(p) for p in paths if p}, key=len):
        there = os.path.exists(path) if files else os.path.isdir(path)
        if there and not _under(path, out):
            out.append(path)
    return out


def scope() -> bool:
    """Landlock-scope this process and what it starts: no signals to, and no abstract
    Unix sockets of, processes outside. False where the kernel offers no scopes."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < _SCOPED_ABI:
        return False
    attr = (ctypes.c_uint64 * 3)(0, 0, _SCOPES)  # handled fs, handled net, scoped
    fd = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(24),
                      ctypes.c_uint32(0))  # fmt: skip
    if fd < 0:
        return False
    try:
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return False
        return bool(libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(fd), ctypes.c_uint32(0)) == 0)
    finally:
        os.close(fd)


def prepare(env: dict[str, str]) -> None:
    """Ready this process and ``env`` for ``exec``ing bwrap: no server token, no parent
    poller, and SIGINT ignored (bwrap would stop on it; the kernelspecs' interrupt_mode
    is message, and the kernel sets its own handler while a cell runs)."""
    import signal

    for name in SERVER_TOKENS:
        env.pop(name, None)
    if env.get(PARENT_ENV):
        env[PARENT_ENV] = "1"
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def confined(kernel: list[str], environ: dict[str, str]) -> tuple[list[str], str | None]:
    """The argv that runs ``kernel`` confined (this process and ``environ``, the
    kernel's, readied for it), or ``kernel`` itself and why not (None when confinement
    was turned off on purpose: nothing to say)."""
    if not wanted(environ):
        return kernel, None
    if not sys.platform.startswith("linux"):
        return kernel, "confinement needs Linux"
    path = bwrap()
    if path is None:
        return kernel, "bubblewrap (bwrap) is not installed: install it (apt install bubblewrap)"
    why = unusable(path)
    if why is not None:
        return kernel, f"bubblewrap cannot make its namespaces here ({why})"
    plan = Plan(environ, kernel)
    scope()
    prepare(environ)
    return plan.argv(path, kernel), None
