"""The ``biobreath`` command: one module per command (train and replay, analyze, export, scan).

Each command module has ``add_parser(sub)`` (or ``add_parsers``), which sets ``run`` as the
parsed arguments' handler. Modules here may import anything in the package, but load heavy
modules inside ``run`` so that ``biobreath --help`` stays instant.

Every user-facing failure is one line on stderr and a non-zero exit (1 for a problem with the
input or the machine, 2 for a malformed command line); never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from biobreath import __version__
from biobreath.cli import (
    analyze,
    assess,
    export,
    history,
    people,
    protocols,
    report,
    scan,
    session,
)
from biobreath.cli.export import EXPORT_FORMATS
from biobreath.cli.session import STOP_SIGNALS
from biobreath.errors import BiobreathError
from biobreath.ui.formatting import one_line

__all__ = ["EXIT_ERROR", "EXPORT_FORMATS", "STOP_SIGNALS", "build_parser", "main"]

EXIT_ERROR = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="biobreath", description="HRV biofeedback breathing trainer and analyser.")
    parser.add_argument("--version", action="version", version=f"biobreath {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    session.add_parsers(sub)
    assess.add_parser(sub)
    scan.add_parser(sub)
    analyze.add_parser(sub)
    export.add_parser(sub)
    history.add_parser(sub)
    protocols.add_parser(sub)
    people.add_parser(sub)
    report.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    _guard_terminal()
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    # bumble (the virtual strap's Bluetooth stack) warns about every packet sent after a
    # disconnect; those are expected when a session ends.
    logging.getLogger("bumble").setLevel(logging.ERROR)
    try:
        return args.run(args)
    except BiobreathError as e:
        print(f"biobreath: {one_line(str(e))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("biobreath: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _guard_terminal() -> None:
    """Let stdout and stderr show any name, even one that is not valid in their encoding (a
    non-UTF-8 file name), escaped rather than failing with UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
