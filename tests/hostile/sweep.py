"""The generic sweep of the hostile table, as cell text (``SWEEP``).

It needs ``kernel_code.PRELUDE`` run first in the kernel.
"""

from __future__ import annotations

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
