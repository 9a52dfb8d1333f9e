"""The `camviz` command line: thin commands over library calls, one error handler."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading

from camviz.errors import CamvizError

# One module per command group; each defines register(subparsers).
COMMAND_MODULES = [
    "train",
    "evaluate",
    "models",
    "explain",
    "app",
    "evaluate_cam",
    "study",
]


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit 1 like every other camviz error (the
    usage block argparse prints instead is 6-14 lines; `--help` still shows it). Subcommand
    parsers inherit the class through add_subparsers."""

    def error(self, message: str) -> None:  # type: ignore[override]
        text = " ".join(message.split())
        self.exit(1, f"camviz: error: {text}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    from camviz import __version__
    parser = OneLineParser(
        prog="camviz",
        description="Train classic CNNs and see where they look (CAM, Grad-CAM, Grad-CAM++).",
        epilog="Set CAMVIZ_DEBUG=1 to see full tracebacks. `camviz COMMAND --help` explains each command.")
    parser.add_argument("--version", action="version", version=f"camviz {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"camviz.cli.{name}").register(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that ``finally`` blocks remove staging folders
    and temporary files, as they do for Ctrl-C (the default action would kill at once)."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors print one line and return 1."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s: %(message)s")
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main else None
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
        if in_main:
            signal.signal(signal.SIGTERM, previous)


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
