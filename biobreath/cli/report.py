"""``biobreath report``: a session's two-page PDF report for a client's file or a paper."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from biobreath.errors import BiobreathError, SessionFileError
from biobreath.ui.formatting import one_line


def add_parser(sub) -> None:
    r = sub.add_parser("report", help="write a session's PDF report",
                       description="Write a two-page A4 PDF of a session: who, when and the "
                                   "protocol; heartbeat intervals with the pacer and markers; "
                                   "heart rate over the breathing curve for one minute; "
                                   "coherence over time; the spectrum, every metric with its "
                                   "method parameters, resonance criteria of paced steps and "
                                   "the check-ins. Never overwrites a file.")
    r.add_argument("session", type=Path, metavar="SESSION")
    r.add_argument("--pdf", type=Path, metavar="OUT",
                   help="the new PDF file (default: SESSION's name with .report.pdf, beside it)")
    r.add_argument("--at", type=start_seconds, metavar="S",
                   help="show heart rate over breathing for the minute from S seconds "
                        "(default: the most coherent minute)")
    r.add_argument("--person", metavar="NAME",
                   help="whose report, in a session with several straps (the person as "
                        "recorded, or the strap's name, address or number from 1)")
    r.set_defaults(run=run)


def start_seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 <= v < math.inf:
        raise argparse.ArgumentTypeError("must be a number of seconds from 0")
    return v


def default_path(session: Path) -> Path:
    """``NAME.report.pdf`` beside the session ``NAME.sqlite``."""
    return session.with_name(session.stem + ".report.pdf")


def run(args) -> int:
    from biobreath.offline.pdf_report import load_report, write_pdf_report

    out = args.pdf or default_path(args.session)
    if out.exists():  # checked first, to spare the analysis; the write refuses it again
        raise BiobreathError(f"{out} exists; choose another name with --pdf")
    try:
        report = load_report(args.session, at_s=args.at, person=args.person)
    except SessionFileError:
        if args.person is None:
            raise
        report = load_report(args.session, at_s=args.at, device=args.person)  # a strap's name
    print(one_line(str(write_pdf_report(report, out))))
    return 0
