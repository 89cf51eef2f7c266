"""Turn each measurement into table rows with goals; one function per section.

Kept apart from the ``measure_*`` modules, which only measure: the goals live here, in
one place, next to the wording of the rows that check them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import (
    measure_access,
    measure_agent,
    measure_apikey,
    measure_custody,
    measure_fd,
    measure_js,
    measure_keyring,
    measure_keyring_reads,
    measure_pg,
    measure_redaction,
    measure_runtime,
    measure_startup,
    measure_store,
)
from .common import Row, fmt_ns, log, median, na_row, spread, timed_row

US, MS = 1e3, 1e6
WATCHED_FORBIDDEN = ("ipywidgets", "keyring", "jupyter_server")


def _keyring_row(
    name: str,
    apikey_ns: list[float],
    read: Callable[[], dict[str, Any]],
    goal: str = "-",
    ok: Callable[[float, float], bool] | None = None,
) -> Row:
    """How many times faster a warm apikey() is than one keyring read (n/a if it fails)."""
    try:
        got = read()
    except Exception as exc:
        return na_row(name, f"{type(exc).__name__}: {exc}"[:120], goal)
    row = timed_row(name, apikey_ns, baseline=got["samples"], invert=True, goal=goal, ok=ok)
    row.spread = f"(base ±{spread(got['samples']) * 50:.0f}%)"
    return row


def apikey(root: Path, notes: list[str]) -> list[Row]:
    """Warm retrieval: absolute, against a bare decrypt, against two keyring backends."""
    times = measure_apikey.measure()
    rows = [
        timed_row("warm zingyConn.apikey()", times.apikey, goal="<= 10 us",
                  ok=lambda m, _: m <= 10 * US),
        timed_row("  vs bare AESGCM decrypt, same blob", times.apikey, baseline=times.decrypt,
                  goal="<= 20x", ok=lambda _, r: r <= 20),
    ]  # fmt: skip
    log("Secret Service reads ...")
    service, why = measure_keyring.start_secret_service()
    if service is None:
        rows.append(na_row("  x faster than Secret Service read", why or "?", ">= 1000x"))
    else:
        try:
            rows.append(
                _keyring_row(
                    "  x faster than Secret Service read",
                    times.apikey,
                    lambda: measure_keyring.secret_service_reads(service),
                    goal=">= 1000x",
                    ok=lambda _, r: r >= 1000,
                )
            )
        finally:
            measure_keyring.stop_secret_service(service)
    log("keyrings.alt plaintext reads ...")
    why = measure_keyring.ensure_keyrings_alt()
    if why is not None:
        rows.append(na_row("  x faster than keyrings.alt plaintext read", why))
    else:
        rows.append(
            _keyring_row(
                "  x faster than keyrings.alt plaintext read",
                times.apikey,
                measure_keyring.plaintext_reads,
            )
        )
    notes.append(
        f"apikey: {len(times.apikey)} batches of 2,000 warm calls, alternating with batches "
        "of bare AESGCM.decrypt (reused AESGCM object, pre-sliced nonce); keyring reads: "
        "one keyring.get_password per sample, in a child process pinned to that backend."
    )
    return rows


def reads(root: Path, notes: list[str]) -> list[Row]:
    """Keyring reads in one kernel's lifetime, with the key in a real Secret Service."""
    name = "keyring reads per kernel lifetime"
    service, why = measure_keyring.start_secret_service()
    if service is None:
        return [na_row(name, why or "?", "<= 1")]
    try:
        got = measure_keyring_reads.measure(service)
    finally:
        measure_keyring.stop_secret_service(service)
    if not got.counter_works or got.key_source != "keyring":
        return [na_row(name, f"instrumentation check failed (key source {got.key_source})")]
    notes.append(
        f"keyring reads: {got.retrievals:,} retrievals of {len(measure_keyring_reads.NAMES)} "
        "profiles over 5 cells, with another process changing one profile in between; "
        "key read from gnome-keyring (SecretService.Keyring.get_password wrapped with a "
        "counter in the kernel, checked by a final probe read)."
    )
    rows = [
        Row(name, str(got.reads), baseline=f"{got.retrievals:,} retrievals", goal="<= 1",
            ok=got.reads <= 1),
        Row("%load_ext zingy_nb, inside that kernel", fmt_ns(got.load_ext_ns)),
        Row("  heavy modules in the kernel after it",
            ", ".join(got.modules_in_kernel) or "none", goal="none of ipywidgets/keyring/"
            "jupyter_server", ok=not set(got.modules_in_kernel) & set(WATCHED_FORBIDDEN)),
    ]  # fmt: skip
    return rows


def startup(root: Path, notes: list[str]) -> list[Row]:
    """``%load_ext`` in fresh processes, kernel start with and without the extension."""
    ext = measure_startup.load_ext()
    log("kernel starts ...")
    starts = measure_startup.kernel_starts()
    extra = median(starts.ext) - median(starts.plain)
    start_row = timed_row("kernel start to kernel_info, --ext=zingy_nb", starts.ext,
                          baseline=starts.plain, goal="<= +25 ms",
                          ok=lambda *_: extra <= 25 * MS)  # fmt: skip
    start_row.ratio += f" ({'+' if extra >= 0 else '-'}{fmt_ns(abs(extra))})"
    paired = median([e - p for e, p in zip(starts.ext, starts.plain)])
    forbidden = [m for m in ext.present if m in WATCHED_FORBIDDEN]
    notes.append(
        f"startup: %load_ext timed in {len(ext.samples)} fresh IPython processes "
        f"(import + load_ipython_extension; it imports {ext.new_modules} modules: "
        f"{', '.join(m for m in ext.top_new if not m.startswith('_'))}); kernel starts: "
        f"{len(starts.ext)} of each kernelspec, alternating, each from start_kernel to "
        f"the first kernel_info_reply; median of the paired differences "
        f"{'+' if paired >= 0 else '-'}{fmt_ns(abs(paired))}."
    )
    return [
        timed_row("%load_ext zingy_nb, fresh IPython process", ext.samples,
                  goal="<= 25 ms", ok=lambda m, _: m <= 25 * MS),
        Row("  heavy modules after it (fresh shell)", ", ".join(ext.present) or "none",
            baseline="added: " + (", ".join(ext.added) or "none"),
            goal="none of ipywidgets/keyring/jupyter_server", ok=not forbidden),
        start_row,
    ]  # fmt: skip


def redaction(root: Path, notes: list[str]) -> list[Row]:
    """Registering 1,000 secrets; 10 MB of kernel output with them registered against none."""
    log_dir = root / "redaction-logs"
    log_dir.mkdir()
    got = measure_redaction.measure(log_dir)
    n = f"{measure_redaction.SECRETS:,}"
    notes.append(
        f"redaction: registration = {n} Redactor.register calls on a fresh Redactor plus "
        f"the first scan (which builds), in this process, {len(got.registration_ns)} times; "
        f"{len(got.plain)} prints of 10 x 1 MB per kernel, alternating, timed "
        "by the client from execute request to idle (all output received and checked); "
        f"the kernel's cell registering the {n} secrets took {fmt_ns(got.register_ns)} once "
        "(not counted)."
    )
    return [
        timed_row(f"register {n} values one by one + next build", got.registration_ns,
                  goal="<= 100 ms", ok=lambda m, _: m <= 100 * MS),
        timed_row(f"print 10 MB, {n} secrets registered", got.redacted, baseline=got.plain,
                  goal="<= 1.25x", ok=lambda _, r: r <= 1.25),
        timed_row(f"  Redactor.text(1 MB), {n} secrets", got.scan_ns),
    ]  # fmt: skip


def store(root: Path, notes: list[str]) -> list[Row]:
    """A 10,000-profile store against a 10-profile one."""
    got = measure_store.measure(root / "stores")
    big, small = measure_store.BIG, measure_store.SMALL
    s = got.samples
    notes.append(
        f"store: built with {big:,} x Profiles.set in {fmt_ns(got.build_ns)} "
        f"({fmt_ns(got.build_ns / big)} a set, not counted); per store {len(s['list'][big])} "
        f"samples of list and set, {len(s['get cold'][big])} of get cold, "
        f"{len(s['get warm'][big])} of get warm, alternating between stores; baseline = the {small}-profile store; "
        "get cold = secrets() on a fresh Profiles (open, key, decrypt); get warm = "
        "secrets() again (batches of 2,000)."
    )
    return [
        timed_row(f"list(), {big:,} profiles", s["list"][big], baseline=s["list"][small],
                  goal="<= 50 ms", ok=lambda m, _: m <= 50 * MS),
        timed_row(f"set(), {big:,} profiles", s["set"][big], baseline=s["set"][small],
                  goal="<= 5 ms", ok=lambda m, _: m <= 5 * MS),
        timed_row(f"get cold, {big:,} profiles", s["get cold"][big],
                  baseline=s["get cold"][small], goal="<= 1.2x", ok=lambda _, r: r <= 1.2),
        timed_row(f"get warm, {big:,} profiles", s["get warm"][big],
                  baseline=s["get warm"][small], goal="<= 1.2x", ok=lambda _, r: r <= 1.2),
    ]  # fmt: skip


def pg(root: Path, notes: list[str]) -> list[Row]:
    """The PostgreSQL team store beside SQLite: warm, cold, list, queries per warm read,
    change propagation."""
    import statistics

    why = measure_pg.available()
    if why is not None:
        return [na_row("PostgreSQL team store", why)]
    got = measure_pg.measure(root)
    n = measure_pg.COUNT
    reads, beats = got.queries
    notes.append(
        f"pg: {got.server}, throwaway server on a unix socket (fsync=off, as the tests "
        "run it), member role with row-level security and her own member key (each team "
        f"profile has its own data key, wrapped for her); both stores hold {n:,} profiles "
        f"(built in {fmt_ns(got.build_ns['pg'])} on PostgreSQL, "
        f"{fmt_ns(got.build_ns['sqlite'])} on SQLite, {measure_pg.CHUNK} per transaction, "
        f"not counted). Warm: {len(got.warm['pg'])} batches each (500 calls on "
        "PostgreSQL, 2,000 on SQLite), alternating, the team store's change listener "
        "healthy (LISTEN/NOTIFY, no query per read); queries: statements the server logged "
        f"for this process's backend over {measure_pg.QUERY_READS:,} warm calls (its own "
        f"heartbeats apart: {beats} meanwhile, one SELECT pg_notify every 0.5 s); cold = "
        "secrets() on a fresh Profiles (PostgreSQL: connect + SCRAM login included); "
        "propagation: a plain Python process polls zingyConn.apikey() in a tight loop "
        f"while this one calls Profiles.set; {len(got.propagate['pg'])} changes per "
        "backend, from set() returning to the reader's first sight (CLOCK_MONOTONIC). "
        f"Grant / revoke: a second database on the same server, one profile with "
        f"{measure_pg.READERS} grantees besides its owner, all joined; "
        f"{len(got.revoke)} alternating pairs of revoke (wraps removed, data key rotated: "
        "re-seal, re-wrap and re-sign for the owner and the grantees left) and grant "
        "(wrap and sign for one), each from the call to its commit."
    )
    pg_, lite = "PostgreSQL", "SQLite"
    seen = got.propagate["pg"]
    cuts = statistics.quantiles(seen, n=100, method="inclusive")
    p50, p99 = statistics.median(seen), cuts[98]
    return [
        timed_row(f"warm zingyConn.apikey(), {pg_}", got.warm["pg"], baseline=got.warm["sqlite"],
                  goal="<= 10 us, <= 3x", ok=lambda m, r: m <= 10 * US and r <= 3),
        Row(f"queries per {measure_pg.QUERY_READS:,} warm reads, {pg_} (listening)", str(reads),
            goal="0", ok=reads == 0),
        timed_row(f"get cold (fresh Profiles), {pg_}", got.cold["pg"],
                  baseline=got.cold["sqlite"]),
        timed_row(f"list(), {n:,} profiles, {pg_}", got.listing["pg"], baseline=got.listing["sqlite"]),
        Row(f"change seen by another process, {pg_}, p50", fmt_ns(p50)),
        Row(f"change seen by another process, {pg_}, p99", fmt_ns(p99), goal="<= 100 ms",
            ok=p99 <= 100 * MS),
        timed_row(f"change seen by another process, {lite}", got.propagate["sqlite"]),
        timed_row(f"grant, 1 profile, {measure_pg.READERS} readers, member keys", got.grant),
        timed_row(f"revoke + re-seal, 1 profile, {measure_pg.READERS} readers, member keys",
                  got.revoke),
    ]  # fmt: skip


def access(root: Path, notes: list[str]) -> list[Row]:
    """Warm retrieval from an allowed notebook against a process with no notebook."""
    got = measure_access.measure(root)
    notes.append(
        f"access: {len(got['allowed'])} batches each of warm zingyConn.apikey() in child "
        "processes, alternating: one with JPY_SESSION_NAME set to a notebook allowed for "
        "the profile, one with no notebook identity (not checked)."
    )
    return [
        timed_row("warm zingyConn.apikey(), allowed notebook", got["allowed"],
                  baseline=got["none"], goal="<= 10 us, <= 1.2x",
                  ok=lambda m, r: m <= 10 * US and r <= 1.2),
    ]  # fmt: skip


def agent(root: Path, notes: list[str]) -> list[Row]:
    """Issue #22's agent: a launched kernel (no key, RemoteProfiles) against one that
    holds its key; kernel start through the launcher; the agent's first start."""
    import sys

    if not sys.platform.startswith("linux"):
        return [na_row("agent", "the agent and its launcher run on Linux only")]
    got = measure_agent.measure(root / "agent")
    # The extra times are medians of paired differences (kernels of one rotation, started
    # back to back), so a machine that slows down across the run moves both sides alike.
    extra = median([a - b for a, b in zip(got.starts["unconfined"], got.starts["plain"])])
    start_row = timed_row("kernel start to kernel_info, launcher unconfined (agent up)",
                          got.starts["unconfined"], baseline=got.starts["plain"],
                          goal="<= +25 ms", ok=lambda *_: extra <= 25 * MS)  # fmt: skip
    start_row.ratio += f" ({'+' if extra >= 0 else '-'}{fmt_ns(abs(extra))})"
    confining = median([a - b for a, b in zip(got.starts["launched"], got.starts["unconfined"])])
    confined_row = timed_row("kernel start, confined (vs the launcher unconfined)",
                             got.starts["launched"], baseline=got.starts["unconfined"],
                             goal="<= +50 ms", ok=lambda *_: confining <= 50 * MS)  # fmt: skip
    confined_row.ratio += f" ({'+' if confining >= 0 else '-'}{fmt_ns(abs(confining))})"
    alone = median(got.launcher) - median(got.bare_python)
    launcher_row = timed_row("  launcher alone, to exec (vs python -c pass)", got.launcher,
                             baseline=got.bare_python)  # fmt: skip
    launcher_row.ratio += f" ({'+' if alone >= 0 else '-'}{fmt_ns(abs(alone))})"
    notes.append(
        "agent: a launched kernel = the zingy-cloud-flow kernelspec as kernels.install "
        "writes it (launcher, capability, no key in its environment: checked), baseline = "
        "the same kernel argv without the launcher, holding ZINGY_NB_MASTER_KEY and opening "
        "the store in-process (its own Profiles and ZingyConn: a plain kernel's "
        "get_profiles() now registers with the agent too). "
        f"Warm: {len(got.warm['launched'])} batches of {measure_agent.WARM_NUMBER:,} calls "
        "per kernel, timed inside each kernel, alternating. Cold: "
        f"{len(got.cold['launched'])} reads per kernel, each after a write to another "
        "profile (not timed) that drops the kernel's and the agent's caches, timed inside "
        f"the kernel, alternating rounds. Kernel start: {len(got.starts['launched'])} of "
        "each, in rotating order: the launched spec confined (bwrap, as installed), the "
        "same with ZINGY_NB_CONFINE=off, the plain spec; start_kernel to the first "
        "kernel_info_reply, agent running; the extra times (in the ratio column) are the "
        "medians of the paired differences within each rotation. Launcher alone: "
        f"{len(got.launcher)} runs of the "
        "kernelspec's launcher (python -c ... zingy_nb.agent.launch ...) cloud-flow -- /bin/true (agent up, confined) alternating with python "
        "-c pass, process start to exit; agent.remote import: timed in "
        f"{len(got.remote_import)} fresh processes that imported ipykernel, the extension "
        "and zingyConn first (a launched kernel imports it when it first opens a store). First start: ensure_agent() in this process until the "
        f"agent's first status reply, {len(got.first_start)} times (agent stopped and gone "
        "in between)."
    )
    return [
        timed_row("warm zingyConn.apikey(), launched kernel", got.warm["launched"],
                  baseline=got.warm["plain"], goal="<= 10 us", ok=lambda m, _: m <= 10 * US),
        timed_row("cold zingyConn.apikey() through the agent", got.cold["launched"],
                  baseline=got.cold["plain"], goal="<= 2 ms", ok=lambda m, _: m <= 2 * MS),
        start_row,
        confined_row,
        launcher_row,
        timed_row("  import zingy_nb.agent.remote at first use", got.remote_import),
        timed_row("agent first start: ensure_agent() to answer", got.first_start),
    ]  # fmt: skip


def custody(root: Path, notes: list[str]) -> list[Row]:
    """Issue #23's locked custody: unlocking (Scrypt N=2^17, r=8, p=1, then AES-GCM)."""
    got = measure_custody.measure()
    notes.append(
        f"custody: unlock = vault.locked.unwrap of a 32-byte key, {len(got.unwrap)} times, "
        "alternating with the bare Scrypt derivation of the same parameters (baseline)."
    )
    return [
        timed_row("unlock: Scrypt N=2^17 + AES-GCM open", got.unwrap, baseline=got.scrypt,
                  goal="<= 1 s", ok=lambda m, _: m <= 1000 * MS),
    ]  # fmt: skip


def javascript(root: Path, notes: list[str]) -> list[Row]:
    """Issue #26: the JavaScript flow kernels (Deno behind the proxy)."""
    import sys

    from zingy_nb import kernels

    if not sys.platform.startswith("linux") or kernels.deno_executable() is None:
        return [na_row("javascript", "needs Linux (the agent) and Deno (the javascript extra)")]
    got = measure_js.measure(root / "js")
    pairs = zip(got.starts[measure_js.JS], got.starts[measure_js.PLAIN])
    extra = median([a - b for a, b in pairs])
    start_row = timed_row("kernel start, JavaScript flow kernel (vs plain Deno, agent up)",
                          got.starts[measure_js.JS], baseline=got.starts[measure_js.PLAIN],
                          goal="<= +300 ms", ok=lambda *_: extra <= 300 * MS)  # fmt: skip
    start_row.ratio += f" ({'+' if extra >= 0 else '-'}{fmt_ns(abs(extra))})"
    notes.append(
        "javascript: the zingy-js-cloud-flow kernelspec as kernels.install writes it "
        f"(launcher, proxy, Deno), agent running. Warm: {len(got.warm)} batches of "
        f"{measure_js.CALLS:,} calls after a cold one, timed inside the kernel with "
        "performance.now(); baseline: Deno.statSync of a file, the floor of the prelude's "
        f"freshness check. Kernel start: {len(got.starts[measure_js.JS])} of each, "
        "alternating, start_kernel to the first kernel_info_reply, against a plain "
        "`deno jupyter --kernel` kernelspec; the extra time is the median of the paired "
        "differences."
    )
    return [
        timed_row("warm zingyConn.apikey(), JavaScript kernel", got.warm, baseline=got.stat,
                  goal="<= 20 us", ok=lambda m, _: m <= 20 * US),
        start_row,
    ]  # fmt: skip


SECTIONS: dict[str, Callable[[Path, list[str]], list[Row]]] = {
    "apikey": apikey,
    "access": access,
    "reads": reads,
    "startup": startup,
    "redaction": redaction,
    "fd": measure_fd.section,
    "store": store,
    "runtime": measure_runtime.section,
    "pg": pg,
    "agent": agent,
    "custody": custody,
    "javascript": javascript,
}
