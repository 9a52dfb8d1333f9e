"""The `camviz` command line: thin commands over library calls, one error handler.

Only the command being run is registered in full (its module imports what it needs);
the others are one-line stubs, so `camviz --help` starts without importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterable, Sequence

from camviz.cli.commands import COMMANDS
from camviz.errors import CamvizError
from camviz.version import __version__

# One module per command group; each defines register(subparsers).
COMMAND_MODULES = list(dict.fromkeys(module for module, _ in COMMANDS.values()))


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit 1 like every other camviz error (the
    usage block argparse prints instead is 6-14 lines; `--help` still shows it). Subcommand
    parsers inherit the class through add_subparsers."""

    def error(self, message: str) -> None:  # type: ignore[override]
        text = " ".join(message.split())
        self.exit(1, f"camviz: error: {text}; see `{self.prog} --help`\n")


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The parser; ``commands``: those registered in full (default: all), the rest as stubs."""
    full = set(COMMANDS if commands is None else commands)
    parser = OneLineParser(
        prog="camviz",
        description="Train classic CNNs and see where they look (CAM, Grad-CAM, Grad-CAM++).",
        epilog="Set CAMVIZ_DEBUG=1 to see full tracebacks. `camviz COMMAND --help` explains each command.")
    parser.add_argument("--version", action="version", version=f"camviz {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        names = [n for n, (m, _) in COMMANDS.items() if m == module]
        if full & set(names):
            importlib.import_module(f"camviz.cli.{module}").register(sub)
        else:
            for name in names:
                sub.add_parser(name, help=COMMANDS[name][1], add_help=False)
    if set(sub.choices) != set(COMMANDS):
        raise RuntimeError("camviz.cli.commands.COMMANDS and the command modules disagree")
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The command named on the command line (the first word that is not an option)."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in COMMANDS else None


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors print one line and return 1."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _command(argv)
    parser = build_parser([command] if command else [])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s: %(message)s")
    # SIGTERM unwinds like Ctrl-C (`finally` blocks remove staging folders, folder runs
    # record the images already written) instead of killing the process where it stands.
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        return int(args.func(args) or 0)
    except CamvizError as err:
        if os.environ.get("CAMVIZ_DEBUG"):
            raise
        print(f"camviz: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as stop:
        terminated = isinstance(stop, Terminated)
        print(f"camviz: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return 143 if terminated else 130
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that ``finally`` blocks remove staging folders
    and temporary files, as they do for Ctrl-C (the default action would kill at once)."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated   # handled above: exit status 143 (128 + SIGTERM) after clean-up


def entry() -> None:
    """Console-script entry point. When the reader of stdout has gone (``camviz ... | head``)
    the command stops quietly with 141 (128 + SIGPIPE), as Unix tools do, not a traceback."""
    try:
        try:
            code: int | str | None = main()
        finally:
            sys.stdout.flush()   # here, where a closed pipe can still be handled
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # nothing more at exit
        code = 141
    sys.exit(code)
