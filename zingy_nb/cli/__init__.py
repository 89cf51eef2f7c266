"""The ``zingy-nb`` command: profiles, notebook access, the master key, the store and
kernelspecs from a shell, and the agent that holds keys for kernels. One module per
command group; this one wires them.

Secrets are read from prompts, stdin, environment variables or files, never from argv
(``ps`` and shell history show argv). Exit status 0 on success, 1 on an error, 2 on a
usage error, with a one-line message on stderr that never quotes an argument: a secret
pasted in the wrong place looks like a name, a variable or a path, so errors name the
position or the option instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import ZingyError
from ..sources import hide, typed_tokens
from . import agent, audit, common, custody, kernels, key, profiles, store, team

GROUPS = {
    "profiles": profiles,
    "key": key,
    "store": store,
    "team": team,
    "audit": audit,
    "kernels": kernels,
}


def build_parser() -> argparse.ArgumentParser:
    parser = common.Parser(prog="zingy-nb", description="Zingy API Key profiles for Jupyter.")
    from .._version import __version__

    parser.add_argument("--version", action="version", version=f"zingy-nb {__version__}")
    top = parser.add_subparsers(dest="area", required=True, parser_class=common.Parser)
    for group in GROUPS.values():
        group.add_parser(top)
    from ..runtime.cli import register

    register(top)  # serve, run: the Cloud Flow runners
    agent.add_parser(top)  # the agent that holds the keys for kernels
    custody.add_parser(top)  # unlock, lock: a key locked with a passphrase
    return parser


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so flushing it at exit raises nothing more."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    given = list(sys.argv[1:] if argv is None else argv)
    common.typed[:] = typed_tokens(given, common.vocabulary(parser))
    args = parser.parse_args(given)
    try:
        if sys.platform.startswith("linux") and args.area != "agent":
            from ..agent.person import serve_locked_stores

            serve_locked_stores()  # a locked store: through its agent, which holds the key
        if getattr(args, "runtime", None) is not None:  # serve / run: their own exit status
            return int(args.runtime(args))
        GROUPS[args.area].run(args)
    except ZingyError as exc:
        print(f"zingy-nb: error: {common.explain(exc)}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader left (`zingy-nb audit | head`): end quietly
        _drop_stdout()
        return 128 + 13  # as a command killed by SIGPIPE
    except OSError as exc:  # a file or folder given with --output, --input or --prefix
        print(
            f"zingy-nb: error: {exc.strerror or type(exc).__name__}: check the file or folder "
            "given on the command line and its permissions (its path is not shown).",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("zingy-nb: cancelled; nothing was changed.", file=sys.stderr)
        return 130
    except Exception as exc:  # one line, never a traceback that could quote an argument
        text = " ".join(f"{type(exc).__name__}: {exc}".split())
        print(f"zingy-nb: error: unexpected {hide(text, common.typed)}", file=sys.stderr)
        return 1
    return 0
