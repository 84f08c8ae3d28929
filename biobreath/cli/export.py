"""``biobreath export``: a session's data in the formats other HRV tools read."""

from __future__ import annotations

from pathlib import Path

from biobreath.ui.formatting import one_line

#: The --to choices (kept equal to biobreath.files.export.EXPORT_FORMATS by a test).
EXPORT_FORMATS = ("kubios", "csv", "edf", "wfdb", "json")


def add_parser(sub) -> None:
    x = sub.add_parser("export", help="write a session for other HRV tools",
                       description="Export a session's beats (and its ECG, accelerometer, pacer "
                                   "and markers when recorded) as Kubios RR text, CSV, EDF+, WFDB "
                                   "or JSON: one set of files per person; never overwrites.")
    x.add_argument("session", type=Path, metavar="SESSION")
    x.add_argument("--to", required=True, choices=EXPORT_FORMATS)
    x.add_argument("--out", type=Path, metavar="PATH",
                   help="a folder, or a name without suffix (default: beside the session)")
    x.set_defaults(run=run)


def run(args) -> int:
    from biobreath.files.export import export_session

    for path in export_session(args.session, args.to, args.out):
        print(one_line(str(path)))
    return 0
