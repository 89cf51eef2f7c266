// zingy-nb: defines zingyConn in a JavaScript flow kernel before its first cell. The
// kernel's proxy sends this once, silently, with its three paths put in.
(() => {
  const REQUEST = "@REQUEST@";
  const ANSWER = "@ANSWER@";
  const GENERATION = "@GENERATION@";
  const SLOTS = ["secret1", "secret2", "secret3", "secret4"];
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(1 << 16);
  let pipes = null;

  // One JSON line out, one back: synchronous, as Zingy's custom code expects.
  function ask(message) {
    if (pipes === null) {
      pipes = {
        request: Deno.openSync(REQUEST, { write: true }),
        answer: Deno.openSync(ANSWER, { read: true }),
      };
    }
    let out = encoder.encode(JSON.stringify(message) + "\n");
    while (out.length) out = out.subarray(pipes.request.writeSync(out));
    let text = "";
    while (!text.endsWith("\n")) {
      const n = pipes.answer.readSync(buffer);
      if (n === null) {
        pipes = null;
        throw new Error("zingy-nb: the kernel's proxy stopped answering; restart the kernel.");
      }
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
    }
    return JSON.parse(text);
  }

  // Answers the proxy marked fresh, by name, with the generation file's size then: the
  // proxy grows the file before a change's writer is answered, and removes it when it
  // can no longer tell.
  const cache = new Map();
  function generation() {
    try {
      return Deno.statSync(GENERATION).size;
    } catch {
      return null;
    }
  }

  // The proxy answers with Python's zingyConn, so every refusal reads the same.
  function values(message) {
    if (message.op === "apikey") {
      const kept = cache.get(message.name);
      if (kept !== undefined && kept.fresh === generation()) return kept.keyInfo;
    }
    const got = ask(message);
    if (got.error) {
      const error = new Error(got.error.message);
      error.name = got.error.name;
      throw error;
    }
    const keyInfo = {};
    for (const slot of SLOTS) keyInfo[slot] = got.values[slot] ?? null;
    Object.freeze(keyInfo);
    if (typeof got.fresh === "number") cache.set(message.name, { fresh: got.fresh, keyInfo });
    else cache.delete(message.name);
    return keyInfo;
  }

  const apikey = (connectionName) => values({ op: "apikey", name: String(connectionName) });
  const execute = (connectionName, command) =>
    values({ op: "execute", name: String(connectionName), command: String(command) });

  // Kernel Gateway's notebook-http mode (`zingy-nb serve`) runs `REQUEST = "..."` before
  // an endpoint cell; in Deno's strict mode that needs the global to exist already.
  if (!("REQUEST" in globalThis)) globalThis.REQUEST = null;

  Object.defineProperty(globalThis, "zingyConn", {
    value: Object.freeze({ apikey, execute }),
    enumerable: false,
  });
})();
