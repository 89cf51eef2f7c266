"""The hostile table's JavaScript rows: what a notebook on a JavaScript flow kernel tries.

The JavaScript kernels (docs/javascript.md) run Deno as a child of the kernel's proxy,
a Python process that holds the kernel's capability. Each row here is one JavaScript
cell run, as an unprivileged user, in a page-flow kernel and in a cloud-flow kernel of
a notebook never allowed, both launched from the zingy JavaScript kernelspecs. The rows
reach for what only a JavaScript kernel has (the proxy above it, the bridge's FIFOs,
Deno's FFI and ``Deno.Command``) and for what any kernel has (the agent's socket, the
store's files, ``zingy-nb`` on the PATH, other processes). One row starts Python from
Deno and runs the Python table's rows that need no IPython there, so the Python rows
hold for a child of a JavaScript kernel too.

They smuggle what they got out as the Python rows do (``rows.SMUGGLE``: XOR-ed JSON,
hex-encoded, on stdout) and end with ``rows.MARKER``, so ``table.judge`` judges both
kinds alike. ``JS_CONTROL`` is their positive control, in a cloud-flow kernel of an
allowed notebook.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .kernel_code import PRELUDE
from .rows import MARKER, ROWS, SMUGGLE, XOR, Row

#: The JavaScript kernelspecs the rows run in, by the Python table's kernel labels.
JS_KERNELS = {"js-page-flow": "zingy-js-page-flow", "js-cloud-flow": "zingy-js-cloud-flow"}


@dataclass(frozen=True)
class JsRow(Row):
    """A hostile JavaScript cell, in a block of its own (its names do not outlive it)."""

    def cell(self) -> str:
        return f"{{\n{self.code.strip()}\n}}\nconsole.log({json.dumps(MARKER)}, {json.dumps(self.id)});\n"


def js_prelude(context: dict[str, Any]) -> str:
    """The helpers every JavaScript row uses, with the driver's ``context`` in ``_H``."""
    return f"globalThis._H = JSON.parse({json.dumps(json.dumps(context))});\n" + _PRELUDE


_PRELUDE = r"""
globalThis._hostileEnc = new TextEncoder();
globalThis._hostileDec = new TextDecoder();

globalThis._hostileLatin1 = (bytes) => {
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    text += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return text;
};

// Every text form of what a row got: strings, bytes in five encodings, objects as
// Deno shows and serialises them and field by field, errors with stack and cause.
globalThis._hostileForms = (obj, depth = 0, seen = new Set(), out = []) => {
  if (depth > 4 || out.length > 400 || obj === null || obj === undefined) return out;
  const kind = typeof obj;
  if (kind === "string") {
    out.push(obj.slice(0, 20000));
    return out;
  }
  if (kind !== "object" && kind !== "function") return out;
  if (seen.has(obj)) return out;
  seen.add(obj);
  if (obj instanceof Uint8Array) {
    const bytes = obj.subarray(0, 20000);
    const latin1 = _hostileLatin1(bytes);
    const b64 = btoa(latin1);
    out.push(latin1, _hostileDec.decode(bytes), Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(""),
             b64, b64.replaceAll("+", "-").replaceAll("/", "_"));
    return out;
  }
  if (kind === "function") return out;
  if (obj instanceof Error) {
    out.push(String(obj.name), String(obj.message).slice(0, 20000), String(obj.stack ?? "").slice(0, 20000));
    _hostileForms(obj.cause, depth + 1, seen, out);
  }
  try {
    out.push(Deno.inspect(obj, { depth: 6, showHidden: true, colors: false, iterableLimit: 200,
                                 strAbbreviateSize: 20000 }).slice(0, 20000));
  } catch (_) { /* a proxy or a getter that throws */ }
  try {
    out.push(String(JSON.stringify(obj)).slice(0, 20000));
  } catch (_) { /* a cycle or a BigInt */ }
  let keys = [];
  try {
    keys = Reflect.ownKeys(obj).slice(0, 200);
  } catch (_) { /* a revoked proxy */ }
  for (const key of keys) {
    try {
      _hostileForms(obj[key], depth + 1, seen, out);
    } catch (_) { /* a getter that throws */ }
  }
  return out;
};

globalThis._hostileEmit = (label, obj) => {
  const forms = [...new Set(_hostileForms(obj))];
  const data = _hostileEnc.encode(JSON.stringify({ label, forms }));
  const hex = new Array(data.length);
  for (let i = 0; i < data.length; i++) hex[i] = (data[i] ^ @XOR@).toString(16).padStart(2, "0");
  console.log("@SMUGGLE@" + hex.join(""));
};

globalThis._hostileTry = async (label, fn) => {
  try {
    const got = await fn();
    _hostileEmit(label, got);
    return got;
  } catch (error) {
    _hostileEmit(label + " raised", error);
    return null;
  }
};

globalThis._hostilePpid = () => {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
};

globalThis._hostileRun = (command, args) => {
  const out = new Deno.Command(command, { args, stdin: "null", stdout: "piped", stderr: "piped" }).outputSync();
  return { code: out.code, stdout: out.stdout, stderr: out.stderr };
};

// Reads another process the hostile way, as kernel_code.PEEK does from Python: ptrace
// attach through libc (FFI), /proc/PID/environ, and /proc/PID/mem through its maps,
// keeping from memory what looks like a key or a token of a well-known form.
globalThis._hostilePeek = async (pid) => {
  await _hostileTry("ptrace attach", () => {
    const libc = Deno.dlopen("libc.so.6", {
      ptrace: { parameters: ["i64", "i64", "pointer", "pointer"], result: "i64" },
      waitpid: { parameters: ["i32", "pointer", "i32"], result: "i32" },
      __errno_location: { parameters: [], result: "pointer" },
    });
    try {
      if (Number(libc.symbols.ptrace(16, pid, null, null)) !== 0) {  // PTRACE_ATTACH
        const errno = new Deno.UnsafePointerView(libc.symbols.__errno_location()).getInt32();
        throw new Error(`PTRACE_ATTACH refused (errno ${errno})`);
      }
      libc.symbols.waitpid(pid, null, 0x40000000);  // __WALL
      libc.symbols.ptrace(17, pid, null, null);  // PTRACE_DETACH
      return "attached";
    } finally {
      libc.close();
    }
  });
  await _hostileTry("proc environ", () => Deno.readFileSync(`/proc/${pid}/environ`));
  await _hostileTry("proc mem", () => {
    const shapes = /[A-Za-z0-9_-]{43}=|(?:sk_live_|ghp_|github_pat_|eyJ|whsec_|-----BEGIN|MADEUP|Tr1ck)[\x20-\x7e]{4,400}/g;
    const maps = Deno.readTextFileSync(`/proc/${pid}/maps`);
    const mem = Deno.openSync(`/proc/${pid}/mem`, { read: true });
    const found = [];
    let total = 0;
    try {
      for (const line of maps.split("\n")) {
        const [span, perms] = line.split(" ");
        if (!perms || !perms.startsWith("r")) continue;
        const [lo, hi] = span.split("-").map((x) => parseInt(x, 16));
        if (hi - lo > 1 << 28) continue;
        const chunk = new Uint8Array(hi - lo);
        let got = 0;
        try {
          mem.seekSync(lo, Deno.SeekMode.Start);
          while (got < chunk.length) {
            const n = mem.readSync(chunk.subarray(got));
            if (!n) break;
            got += n;
          }
        } catch (_) { /* a region the kernel will not hand out */ }
        total += got;
        for (const m of _hostileLatin1(chunk.subarray(0, got)).matchAll(shapes)) {
          if (found.length < 5000) found.push(m[0]);
        }
      }
    } finally {
      mem.close();
    }
    if (total === 0) throw new Error("no byte of its memory could be read");
    return { "bytes read": String(total), found: [...new Set(found)] };
  });
};

// The agent's folder, found as kernel_code.AGENT_DIR finds it.
globalThis._hostileAgentDir = () => {
  for (const [base, outer] of [[_H.runtime + "/zingy-nb", null], [_H.tmp, "zingy-nb-"]]) {
    const parents = [];
    try {
      if (outer === null) parents.push(base);
      else for (const e of Deno.readDirSync(base)) if (e.name.startsWith(outer)) parents.push(`${base}/${e.name}`);
      for (const parent of parents.sort()) {
        for (const e of [...Deno.readDirSync(parent)].sort((a, b) => a.name.localeCompare(b.name))) {
          if (!e.name.startsWith("agent-")) continue;
          try {
            Deno.statSync(`${parent}/${e.name}/sock`);
            return `${parent}/${e.name}`;
          } catch (_) { /* no socket here */ }
        }
      }
    } catch (_) { /* a folder hidden from the kernel */ }
  }
  throw new Error("no agent folder with a socket");
};

// Raw requests on the agent's socket, one JSON line each way.
globalThis._hostileAgent = async (...requests) => {
  const conn = await Deno.connect({ transport: "unix", path: _hostileAgentDir() + "/sock" });
  const replies = [];
  let pending = "";
  try {
    for (const [i, request] of requests.entries()) {
      await conn.write(_hostileEnc.encode(JSON.stringify({ id: i, ...request }) + "\n"));
      while (!pending.includes("\n")) {
        const buffer = new Uint8Array(65536);
        const n = await conn.read(buffer);
        if (n === null) throw new Error("the agent hung up after: " + pending);
        pending += _hostileDec.decode(buffer.subarray(0, n));
      }
      const end = pending.indexOf("\n");
      replies.push(JSON.parse(pending.slice(0, end)));
      pending = pending.slice(end + 1);
    }
  } finally {
    conn.close();
  }
  return replies;
};
""".replace("@XOR@", hex(XOR)).replace("@SMUGGLE@", SMUGGLE)

_RETRIEVE_ALL = """
for (const n of _H.names) {
  await _hostileTry("apikey " + n, () => ({ ...zingyConn.apikey(n) }));
  await _hostileTry("execute " + n, () => ({ ...zingyConn.execute(n, "Retrieve") }));
}
"""

#: The positive control (an allowed notebook, cloud flow): the values got the
#: legitimate way, and a child of Deno's holding one read by ``_hostilePeek``.
JS_CONTROL = (
    _RETRIEVE_ALL
    + """
const child = new Deno.Command("sleep", {
  args: ["60"], env: { HOSTILE_CONTROL: zingyConn.apikey(_H.profile).secret1 },
  stdin: "null", stdout: "null", stderr: "null",
}).spawn();
await new Promise((done) => setTimeout(done, 500));
try {
  await _hostilePeek(child.pid);
} finally {
  child.kill("SIGKILL");
}
"""
)

#: The Python table's rows that run outside IPython: a Python child of Deno runs them
#: (the ``js-python`` row), each row's labels prefixed with its id.
PYTHON_ROW_IDS = (
    "environ", "get-profiles", "vault", "custody", "cipher-on-blob", "fresh-profiles",
    "redactor", "agent-socket", "agent-register", "ptrace-agent", "proc-others",
    "server-token", "sqlite-allowance", "store-allow-in-kernel",
)  # fmt: skip
_PYTHON_ROWS = [{row.id: row for row in ROWS}[i] for i in PYTHON_ROW_IDS]  # KeyError: gone
for _row in _PYTHON_ROWS:
    compile(_row.code, _row.id, "exec")  # plain Python: no IPython syntax

_CHILD_RUNNER = r"""
_hostile_emit_plain = _hostile_emit
for _hrow_id, _hrow_code in _HOSTILE_ROWS:
    def _hostile_emit(label, obj, _prefix=_hrow_id + ": "):
        _hostile_emit_plain(_prefix + label, obj)
    try:
        exec(compile(_hrow_code, _hrow_id, "exec"), globals())
    except BaseException as _e:
        _hostile_emit("crashed", _e)
"""


def python_child_source(context: dict[str, Any]) -> str:
    """The program the ``js-python`` row runs: the Python prelude, then the rows."""
    rows = [(row.id, row.code) for row in _PYTHON_ROWS]
    return (
        f"import json as _j0\n_HOSTILE = _j0.loads({json.dumps(context)!r})\n"
        f"_HOSTILE_ROWS = _j0.loads({json.dumps(rows)!r})\n" + PRELUDE + _CHILD_RUNNER
    )


JS_ROWS: list[JsRow] = [
    JsRow("js-zingyconn", _RETRIEVE_ALL),
    JsRow(
        "js-environ",
        """
await _hostileTry("Deno.env", () => Deno.env.toObject());
await _hostileTry("/proc/self/environ", () => Deno.readFileSync("/proc/self/environ"));
await _hostileTry("/proc/self/cmdline", () => Deno.readFileSync("/proc/self/cmdline"));
""",
    ),
    JsRow(
        "js-proxy",
        """
const ppid = _hostilePpid();
await _hostileTry("proxy cmdline", () => Deno.readFileSync(`/proc/${ppid}/cmdline`));
await _hostileTry("proxy status", () => Deno.readTextFileSync(`/proc/${ppid}/status`));
await _hostileTry("proxy fds", () => [...Deno.readDirSync(`/proc/${ppid}/fd`)].map(
  (e) => Deno.readLinkSync(`/proc/${ppid}/fd/${e.name}`)));
await _hostilePeek(ppid);
""",
        denied=("ptrace attach", "proc environ", "proc mem", "proxy fds"),
    ),
    JsRow(
        "js-processes",
        """
const me = String(Deno.pid);
const pids = [...Deno.readDirSync("/proc")].map((e) => e.name).filter((n) => /^[0-9]+$/.test(n) && n !== me);
_hostileEmit("processes seen", pids);
for (const pid of pids) {
  for (const what of ["environ", "cmdline"]) {
    await _hostileTry("proc " + what, () => Deno.readFileSync(`/proc/${pid}/${what}`));
  }
}
""",
        confinement=True,
    ),
    JsRow(
        "js-files",
        """
const walk = (dir, depth, out) => {
  if (depth > 4 || out.length > 400) return out;
  for (const e of Deno.readDirSync(dir)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) {
      try { walk(path, depth + 1, out); } catch (error) { out.push([path, String(error)]); }
    } else if (e.isFile) out.push([path, null]);
  }
  return out;
};
for (const [label, dir] of [["runtime folder", _H.runtime], ["temp folder", _H.tmp],
                            ["store folder", _H.zingy_home], ["home", Deno.env.get("HOME")]]) {
  const files = await _hostileTry(label, () => walk(dir, 0, []));
  for (const [path, error] of files ?? []) {
    if (error === null) {
      await _hostileTry("file " + path, () => {
        if (Deno.statSync(path).size > 4 << 20) throw new Error("over 4 MiB: " + path);
        return Deno.readFileSync(path);
      });
    }
  }
}
""",
    ),
    JsRow(
        "js-bridge",
        """
try { zingyConn.apikey(_H.profile); } catch (_) { /* the prelude has its FIFOs open now */ }
const open = [...Deno.readDirSync("/proc/self/fd")].map((e) => {
  try { return Deno.readLinkSync("/proc/self/fd/" + e.name); } catch (_) { return ""; }
});
const request = open.find((p) => p.endsWith("/zingy-request"));
const answer = open.find((p) => p.endsWith("/zingy-answer"));
_hostileEmit("bridge FIFOs", [String(request), String(answer)]);
const writer = Deno.openSync(request, { write: true });
const reader = Deno.openSync(answer, { read: true });
const ask = (line) => {
  let out = _hostileEnc.encode(line + "\\n");
  while (out.length) out = out.subarray(writer.writeSync(out));
  let text = "";
  const buffer = new Uint8Array(65536);
  while (!text.endsWith("\\n")) {
    const n = reader.readSync(buffer);
    if (n === null) throw new Error("the bridge closed after: " + text);
    text += _hostileDec.decode(buffer.subarray(0, n));
  }
  return text;
};
const lines = ["{", "[]", JSON.stringify({ op: "export_key" })];
for (const n of _H.names) {
  lines.push(JSON.stringify({ op: "apikey", name: n }),
             JSON.stringify({ op: "execute", name: n, command: "Retrieve" }),
             JSON.stringify({ op: "apikey", name: n, flow: "cloud-flow", notebook: _H.allowed,
                              cap: "A".repeat(43) }),
             JSON.stringify({ op: "secrets", name: n }));
}
for (const line of lines) await _hostileTry("bridge " + line.slice(0, 60), () => ask(line));
writer.close();
reader.close();
""",
    ),
    JsRow(
        "js-agent-socket",
        """
const forged = "A".repeat(43);
const requests = [{ op: "status" }, { op: "list" }, { op: "key_status" }, { op: "look" },
                  { op: "spans", texts: ["x".repeat(20)] }];
for (const n of _H.names) {
  requests.push({ op: "retrieve", name: n }, { op: "retrieve", cap: forged, name: n },
                { op: "retrieve", cap: null, name: n });
}
await _hostileTry("requests", () => _hostileAgent(...requests));
const registered = await _hostileTry("register", () => _hostileAgent(
  { op: "register", flow: "cloud-flow", notebook: null, pid: Deno.pid },
  { op: "register", flow: "cloud-flow", notebook: null },
  { op: "register", flow: "cloud-flow", notebook: _H.allowed }));
for (const reply of registered ?? []) {
  if (reply.ok && reply.cap) {
    for (const n of _H.names) {
      await _hostileTry("retrieve " + n, () => _hostileAgent({ op: "retrieve", cap: reply.cap, name: n }));
    }
  }
}
""",
    ),
    JsRow(
        "js-cli",
        """
await _hostileTry("key export", () => _hostileRun("zingy-nb", ["key", "export"]));
const exported = `${_H.tmp}/exported-${Deno.pid}.key`;
await _hostileTry("key export --output", () => _hostileRun("zingy-nb", ["key", "export", "--output", exported]));
await _hostileTry("exported file", () => Deno.readFileSync(exported));
for (const n of _H.names) {
  await _hostileTry("allow " + n, () => _hostileRun("zingy-nb", ["profiles", "allow", n, _H.notebook]));
}
await _hostileTry("notebook-access off", () => _hostileRun("zingy-nb", ["store", "config", "notebook-access", "off"]));
"""
        + _RETRIEVE_ALL,
        widens=True,
    ),
    JsRow(
        "js-python",
        """
const out = await _hostileTry("python", () => _hostileRun(_H.python, ["-c", _H.python_source]));
if (out) console.log(_hostileDec.decode(out.stdout));  // the child's smuggled lines
""",
        denied=tuple(f"{row.id}: {label}" for row in _PYTHON_ROWS for label in row.denied),
        widens=True,
        timeout=300,
    ),
]
