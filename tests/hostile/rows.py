"""The hostile-notebook table: cells that try, on purpose, to get a value or a key.

Each row is one cell run in a page-flow kernel and in a cloud-flow kernel of a notebook
that was never allowed. A hostile notebook does not print what it got (the kernel would
redact a value it knows): it hides it first. So every row hands what it got, and the
text of every error it met (tracebacks' frame locals too), to ``_hostile_emit``, which
prints it XOR-ed and hex-encoded (``SMUGGLE``); the test undoes that (``unsmuggle``)
and scans the result with ``tests/leaks/scanner.py``, as well as every message as sent.
Each row ends by printing ``MARKER`` and its id, so the test knows it ran to its end.

``PRELUDE`` defines the helpers in each kernel (the driver runs it first, with
``_HOSTILE`` set to the profile names, the notebook and the store's folders).
``CONTROL`` is the positive control, run in a cloud-flow kernel of an allowed notebook:
there ``zingyConn.apikey`` must give the values, and the scan must find them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

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

    def cell(self) -> str:
        return f"{self.code.strip()}\nprint({MARKER!r}, {self.id!r})\n"


PRELUDE = r'''
import base64 as _hb64, json as _hjson, os as _hos, sys as _hsys, traceback as _htb

def _hostile_forms(obj, depth=0, seen=None, out=None):
    """Every text form of what a row got: strings, bytes in four encodings, containers,
    objects' fields, exceptions with their chain and their frames' locals."""
    import inspect
    seen = set() if seen is None else seen
    out = [] if out is None else out
    if depth > 4 or id(obj) in seen or len(out) > 400:
        return out
    seen.add(id(obj))
    if obj is None or isinstance(obj, (bool, int, float, complex)):
        return out
    if isinstance(obj, str):
        out.append(obj[:20000])
        return out
    if isinstance(obj, (bytes, bytearray, memoryview)):
        b = bytes(obj)[:20000]
        out += [b.decode("latin-1"), b.hex(), _hb64.b64encode(b).decode(),
                _hb64.urlsafe_b64encode(b).decode()]
        return out
    if inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isroutine(obj):
        return out
    if isinstance(obj, BaseException):
        out += [type(obj).__name__, str(obj)[:20000], repr(obj)[:20000],
                "".join(_htb.format_exception(type(obj), obj, obj.__traceback__))[:20000]]
        _hostile_forms(obj.args, depth + 1, seen, out)
        _hostile_forms(getattr(obj, "__dict__", {}), depth + 1, seen, out)
        _hostile_forms(obj.__cause__, depth + 1, seen, out)
        _hostile_forms(obj.__context__, depth + 1, seen, out)
        tb = obj.__traceback__
        while tb is not None:
            _hostile_forms(dict(tb.tb_frame.f_locals), depth + 2, seen, out)
            tb = tb.tb_next
        return out
    if isinstance(obj, dict):
        for k, v in list(obj.items())[:200]:
            _hostile_forms(k, depth + 1, seen, out)
            _hostile_forms(v, depth + 1, seen, out)
        return out
    if isinstance(obj, (list, tuple, set, frozenset)):
        for v in list(obj)[:200]:
            _hostile_forms(v, depth + 1, seen, out)
        return out
    for how in (repr, str):
        try:
            out.append(how(obj)[:20000])
        except BaseException:
            pass
    try:
        if hasattr(obj, "items") and callable(obj.items):
            _hostile_forms(dict(obj.items()), depth + 1, seen, out)
    except BaseException:
        pass
    fields = {}
    try:
        fields.update(object.__getattribute__(obj, "__dict__"))
    except BaseException:
        pass
    for klass in type(obj).__mro__:
        for slot in getattr(klass, "__slots__", ()) or ():
            try:
                fields[slot] = object.__getattribute__(obj, slot)
            except BaseException:
                pass
    _hostile_forms(fields, depth + 1, seen, out)
    return out

def _hostile_emit(label, obj):
    forms = list(dict.fromkeys(_hostile_forms(obj)))
    data = _hjson.dumps({"label": label, "forms": forms}).encode("utf-8")
    print("HOSTILE-SMUGGLED:" + bytes(b ^ 0x5A for b in data).hex(), flush=True)

def _hostile_try(label, fn, *args):
    try:
        got = fn(*args)
    except BaseException as exc:
        _hostile_emit(label + " raised", exc)
        return None
    _hostile_emit(label, got)
    return got

import zingy_nb
from zingy_nb import zingyConn
_HN = _HOSTILE["names"]
_HP = _HOSTILE["profile"]
'''

#: The positive control (allowed notebook, cloud flow): what the hostile rows must
#: never get, got the legitimate way, and a dumpable child's environ and memory read by
#: the same code as the agent's (``_hostile_peek``), holding a value.
CONTROL = r"""
for _n in _HN:
    _hostile_try("apikey " + _n, lambda n=_n: dict(zingyConn.apikey(n).items()))
import subprocess as _hsp
_child = _hsp.Popen([_hsys.executable, "-c", "import sys, time; v = sys.argv; time.sleep(60)"],
                    env={**_hos.environ, "HOSTILE_CONTROL": zingyConn.apikey(_HP).secret1})
import time as _ht; _ht.sleep(1.0)
try:
    _hostile_peek(_child.pid)
finally:
    _child.kill(); _child.wait()
"""

#: Reads another process the hostile way: ptrace attach, /proc/PID/environ, and
#: /proc/PID/mem through /proc/PID/maps, keeping from memory what looks like a key (the
#: master key's URL-safe base64 form) or a token of a well-known form.
PEEK = r"""
def _hostile_peek(pid):
    import ctypes, re
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    libc.ptrace.restype = ctypes.c_long

    def attach():
        if libc.ptrace(16, pid, None, None) != 0:  # PTRACE_ATTACH
            raise OSError(ctypes.get_errno(), "PTRACE_ATTACH refused")
        _hos.waitpid(pid, 0x40000000)  # __WALL
        libc.ptrace(17, pid, None, None)  # PTRACE_DETACH
        return "attached"

    def environ():
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read()

    shapes = re.compile(rb"[A-Za-z0-9_-]{43}=|(?:sk_live_|ghp_|github_pat_|eyJ|whsec_|"
                        rb"-----BEGIN|MADEUP|Tr1ck)[\x20-\x7e]{4,400}")

    def mem():
        found, total = [], 0
        with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as m:
            for line in maps:
                span, perms = line.split()[:2]
                if not perms.startswith("r"):
                    continue
                lo, hi = (int(x, 16) for x in span.split("-"))
                if hi - lo > 1 << 28:
                    continue
                try:
                    m.seek(lo)
                    chunk = m.read(hi - lo)
                except OSError:
                    continue
                total += len(chunk)
                found += [x.group(0) for x in shapes.finditer(chunk)][:2000]
        if total == 0:
            raise OSError("no byte of its memory could be read")
        return {"bytes read": str(total), "found": list(dict.fromkeys(found))[:5000]}

    _hostile_try("ptrace attach", attach)
    _hostile_try("proc environ", environ)
    _hostile_try("proc mem", mem)
"""

#: Where the agent's folder is: under the runtime dir, or (a socket path too deep)
#: under the temp dir.
AGENT_DIR = r"""
import glob as _hg
def _hostile_agent_dir():
    for pattern in ((_HOSTILE["runtime"], "zingy-nb", "agent-*"), (_HOSTILE["tmp"], "zingy-nb-*", "agent-*")):
        for d in sorted(_hg.glob(_hos.path.join(*pattern))):
            if _hos.path.exists(_hos.path.join(d, "sock")):
                return d
    raise RuntimeError("no agent folder with a socket")
"""

AGENT_PID = (
    AGENT_DIR
    + r"""
def _hostile_agent_pid():
    return int(open(_hos.path.join(_hostile_agent_dir(), "agent.pid")).read().strip())
"""
)

#: Raw requests on the agent's socket: the kernel writes its own lines.
AGENT_SOCKET = (
    AGENT_DIR
    + r"""
import socket as _hsock
def _hostile_connect():
    s = _hsock.socket(_hsock.AF_UNIX, _hsock.SOCK_STREAM)
    s.settimeout(20)
    s.connect(_hos.path.join(_hostile_agent_dir(), "sock"))
    return s

def _hostile_agent(*requests):
    s = _hostile_connect()
    f = s.makefile("rb")
    replies = []
    for i, req in enumerate(requests):
        s.sendall((_hjson.dumps({"id": i, **req}) + "\n").encode())
        replies.append(_hjson.loads(f.readline()))
    s.close()
    return replies
"""
)

_RETRIEVE_ALL = """
for _n in _HN:
    _hostile_try("apikey " + _n, lambda n=_n: dict(zingyConn.apikey(n).items()))
    _hostile_try("secrets " + _n, lambda n=_n: zingy_nb.get_profiles().secrets(n))
"""

#: The generic sweep: every attribute of every module of zingy_nb. Each module is
#: swept in a forked child of the kernel (it holds all the kernel holds), so a call that
#: blocks, execs or exits costs that child only; each call gets one second (SIGALRM).
#: Calls with no argument and with the profile name; classes built both ways, and their
#: instances' (and module-level instances') attributes read and methods called the same
#: way. Left out: callables named for changing or destroying stored state (they yield
#: nothing and would change the store under the other rows; widening has rows of its
#: own) and those that start servers or processes (``main``, ``run``, ``serve``...).
SWEEP = r"""
def _hostile_sweep():
    import importlib, inspect, pkgutil, re, select, signal, time
    skip = re.compile(r"^_*(delete|remove|rename|rotate|uninstall|discard|drop|revoke|clear|"
                      r"forget|reset|import_key|set|update|write|put|save|move|disallow|kill|"
                      r"stop|shutdown|exit|main|run|serve|exec|spawn|detach|daemon|lock|"
                      r"sleep|wait|install|create|join|new_key|convert|sync|trust|grant|"
                      r"upgrade|migrate|follow|prune|tidy|close)")

    def ours(obj):
        return str(getattr(obj, "__module__", "") or "").startswith("zingy_nb")

    def own_names(klass):
        # attributes zingy_nb's classes define (not those inherited from tornado & co.)
        names = set()
        for k in getattr(klass, "__mro__", ()):
            if ours(k):
                names.update(vars(k))
        return sorted(names)

    def calls(mod):
        # (label, thunk) for every call of the sweep of ``mod``, in a fixed order
        todo, built = [], {}

        def instance(key, build):
            if key not in built:
                try:
                    built[key] = (True, build())
                except BaseException as exc:
                    built[key] = (False, exc)
            ok, got = built[key]
            if not ok:
                raise got
            return got

        def members(label, get, names):
            for attr in names:
                if attr.startswith("__"):
                    continue
                todo.append((f"{label}.{attr}", lambda a=attr: getattr(get(), a)))
                if not skip.match(attr):
                    todo.append((f"{label}.{attr}()", lambda a=attr: getattr(get(), a)()))
                    todo.append((f"{label}.{attr}(name)", lambda a=attr: getattr(get(), a)(_HP)))

        for name in sorted(dir(mod)):
            try:
                obj = getattr(mod, name)
            except BaseException:
                continue
            label = f"{mod.__name__}.{name}"
            if inspect.ismodule(obj):
                continue
            if isinstance(obj, type):
                if not ours(obj):
                    continue
                todo.append((label, lambda o=obj: o))
                members(label, lambda o=obj: o, own_names(obj))
                if skip.match(name):
                    continue
                for how, build in (("()", lambda c=obj: c()), ("(name)", lambda c=obj: c(_HP))):
                    get = lambda k=label + how, b=build: instance(k, b)
                    todo.append((label + how, get))
                    members(label + how, get, own_names(obj))
            elif callable(obj) and ours(obj) and not ours(type(obj)):
                if not skip.match(name):
                    todo.append((label + "()", lambda o=obj: o()))
                    todo.append((label + "(name)", lambda o=obj: o(_HP)))
            elif not callable(obj) or ours(type(obj)):
                todo.append((label, lambda o=obj: o))
                if ours(type(obj)):
                    members(label, lambda o=obj: o, own_names(type(obj)))
        return todo

    def child(mod, start, w):
        def alarm(signum, frame):
            raise TimeoutError("hostile sweep: one second per call")

        signal.signal(signal.SIGALRM, alarm)
        todo, sent = calls(mod), set()
        for i in range(start, len(todo)):
            label, thunk = todo[i]
            _hos.write(w, (_hjson.dumps({"begin": i}) + "\n").encode())
            signal.setitimer(signal.ITIMER_REAL, 1.0)
            try:
                got = thunk()
            except BaseException as exc:
                got = exc
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            try:
                forms = [f for f in _hostile_forms(got) if f not in sent]
            except BaseException as exc:
                forms = [f"forms failed: {type(exc).__name__}"]
            sent.update(forms)
            _hos.write(w, (_hjson.dumps({"call": label, "forms": forms}) + "\n").encode())
        _hos.write(w, b'{"end": true}\n')

    mods = ["zingy_nb"] + sorted(
        m.name for m in pkgutil.walk_packages(zingy_nb.__path__, "zingy_nb."))
    for modname in mods:
        try:
            mod = importlib.import_module(modname)
        except BaseException as exc:
            _hostile_emit("import " + modname + " raised", exc)
            continue
        forms, count, start, restarts = [], 0, 0, 0
        while True:
            r, w = _hos.pipe()
            pid = _hos.fork()
            if pid == 0:
                try:
                    _hos.close(r)
                    child(mod, start, w)
                finally:
                    _hos._exit(0)
            _hos.close(w)
            buf, quiet_until = b"", time.monotonic() + 3
            while time.monotonic() < quiet_until:  # a call's alarm is 1 s: 3 s is stuck
                if not select.select([r], [], [], 0.5)[0]:
                    continue
                chunk = _hos.read(r, 1 << 16)
                if not chunk:
                    break
                buf += chunk
                quiet_until = time.monotonic() + 3
            _hos.close(r)
            try:
                _hos.kill(pid, 9)
            except OSError:
                pass
            _hos.waitpid(pid, 0)
            last, ended = start - 1, False
            for line in buf.splitlines():
                try:
                    msg = _hjson.loads(line)
                except ValueError:
                    continue
                if "begin" in msg:
                    last = msg["begin"]
                elif msg.get("end"):
                    ended = True
                else:
                    count += 1
                    forms += msg["forms"]
            if ended or restarts >= 20:
                break
            restarts += 1
            start = last + 1
        _hostile_emit(f"sweep {modname} ({count} calls, {restarts} restarts)",
                      list(dict.fromkeys(forms)))

_hostile_sweep()
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
_reqs.append({"op": "redact"})
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
]
