"""``biobreath analyze``: HRV analysis of session and RR files, one or thousands at a time."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from biobreath.cli.args import positive_seconds
from biobreath.errors import BiobreathError
from biobreath.ui.formatting import num, one_line

EXIT_ERROR = 1
DETRENDS = {"none": "none", "linear": "linear", "smoothness": "smoothness_priors"}
"""--detrend choices and the names :func:`biobreath.core.hrv.analyze` knows them by."""


def add_parser(sub) -> None:
    a = sub.add_parser("analyze", help="HRV analysis of session or RR files",
                       description="Analyse session files or RR files: text or CSV (RR in ms or "
                                   "s), Kubios, Polar Sensor Logger, HRV Logger, Elite HRV, "
                                   "EDF/EDF+, WFDB, Garmin FIT (recognised from the content). "
                                   "Folders: the files inside. Every file is analysed even if "
                                   "others fail; the failures are listed at the end.")
    a.add_argument("files", type=Path, nargs="+", metavar="PATH",
                   help="a file, or a folder of files")
    a.add_argument("--recursive", action="store_true",
                   help="analyse the files in the folders' subfolders too")
    a.add_argument("--format", type=rr_format, metavar="FORMAT",
                   help="read every FILE as FORMAT instead of recognising it from its content: "
                        "session, text (csv), kubios, polar, hrvlogger, elitehrv, edf, wfdb, fit, "
                        "biobreath-csv, biobreath-json")
    out = a.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true",
                     help="one JSON object per file (or window or segment), one per line")
    out.add_argument("--csv", type=Path, metavar="OUT",
                     help="write one table to OUT (a new file): a row per file, person and "
                          "window or segment, a column per metric and parameter")
    a.add_argument("--artifacts", choices=["auto", "none"], default="auto",
                   help="auto: detect and correct artifacts (Lipponen & Tarvainen 2019, as "
                        "Kubios); none: analyse the intervals as recorded (default auto)")
    a.add_argument("--psd", choices=["welch", "lomb", "ar"], default="welch",
                   help="spectrum: Welch periodogram, Lomb-Scargle, or Burg autoregressive "
                        "(order 16) (default welch)")
    a.add_argument("--detrend", choices=list(DETRENDS), default="none",
                   help="detrending before the spectrum (default none)")
    a.add_argument("--lambda", dest="smoothness_lambda", type=positive_number, metavar="L",
                   help="smoothness priors regularisation (default 500; with --detrend "
                        "smoothness)")
    a.add_argument("--window", type=positive_seconds, metavar="S",
                   help="analyse windows of S seconds (e.g. 300) instead of the whole file")
    a.add_argument("--step", type=positive_seconds, metavar="S",
                   help="start a window every S seconds (default: the window length)")
    a.add_argument("--segments", choices=["steps", "markers"],
                   help="one result per protocol step of a session, or per stretch between "
                        "markers (the first labelled 'start')")
    a.add_argument("--jobs", type=jobs_count, default=1, metavar="N",
                   help="analyse N files at a time in worker processes (default 1)")
    a.add_argument("--dask", metavar="ADDRESS",
                   help="analyse the files on the Dask cluster whose scheduler is at ADDRESS "
                        "(e.g. tcp://10.0.0.5:8786); its workers read the files, so they must "
                        "see the same paths")
    a.add_argument("--plot", type=Path, metavar="PNG",
                   help="write a report figure (tachogram, spectrum, Poincaré plot); with "
                        "several files, each file's name is added before the suffix; a folder "
                        "gets one FILE.png per file")
    a.set_defaults(run=run)


def rr_format(text: str) -> str:
    from biobreath.files.formats import canonical  # loaded only when --format is given

    try:
        return canonical(text)
    except BiobreathError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def positive_number(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < v < float("inf"):
        raise argparse.ArgumentTypeError("must be a positive number")
    return v


def jobs_count(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= v <= 1024:
        raise argparse.ArgumentTypeError("must be from 1 to 1024")
    return v


def _check(args) -> None:
    """Options that cannot go together: one line each."""
    if args.step is not None and args.window is None:
        raise BiobreathError("--step needs --window")
    if args.segments is not None and args.window is not None:
        raise BiobreathError("--segments and --window cannot be combined; choose one")
    if args.smoothness_lambda is not None and args.detrend != "smoothness":
        raise BiobreathError("--lambda needs --detrend smoothness")
    if args.dask is not None and args.jobs != 1:
        raise BiobreathError("--jobs and --dask cannot be combined (the cluster has its own "
                             "workers)")
    if args.plot is not None and args.plot.is_file():
        raise BiobreathError(f"{args.plot} already exists; choose another --plot (files are "
                             "never overwritten)")


def run(args) -> int:
    from biobreath.offline.batch import BatchOptions, find_inputs, run_batch

    _check(args)
    inputs = find_inputs(args.files, args.recursive)
    hrv_options = {"method": args.psd, "detrend": DETRENDS[args.detrend]}
    if args.smoothness_lambda is not None:
        hrv_options["smoothness_lambda"] = args.smoothness_lambda
    options = BatchOptions(
        format=args.format, artifact_mode=args.artifacts, hrv_options=hrv_options,
        window_s=args.window, step_s=args.step, segments=args.segments,
        report=not args.json and args.csv is None, plot=args.plot,
        plot_one=len(inputs.files) == 1)
    table = _Table(args.csv, options) if args.csv is not None else None
    progress = _Progress(len(inputs.files)) if sys.stderr.isatty() else None
    failures: list[str] = []
    try:
        for outcome in run_batch(inputs.files, options, jobs=args.jobs, dask_address=args.dask,
                                 progress=progress and progress.advance):
            if outcome.error is not None:
                failures.append(outcome.error)
            elif table is not None:
                table.write(outcome.records)
            else:
                if progress:
                    progress.clear()
                _print(args, outcome)
    finally:
        if progress:
            progress.clear()
        if table is not None:
            table.close()
    return _summary(inputs, failures, table)


def _summary(inputs, failures: list[str], table: _Table | None) -> int:
    """The lines on stderr after the results: what was left out, where the table went, every
    failure with its reason; the exit status."""
    n = len(inputs.files)
    lines = [line for line in (inputs.summary(),) if line]
    if table is not None:
        lines.append(f"wrote {table.rows} row{'s' * (table.rows != 1)} for {n - len(failures)} "
                     f"of {n} file{'s' * (n != 1)} to {table.path}")
    lines += failures
    if failures and n > 1:
        lines.append(f"{len(failures)} of {n} files failed")
    for line in lines:
        print(f"biobreath: {one_line(line)}", file=sys.stderr)
    return EXIT_ERROR if failures else 0


def _print(args, outcome) -> None:
    """One file's results on stdout: JSON lines, report blocks or a line per window/segment."""
    if args.json:
        for r in outcome.records:
            print(json.dumps(r, allow_nan=False))
        return
    if outcome.reports:
        for record, text in zip(outcome.records, outcome.reports):
            # A file or strap name must not add lines or terminal escapes of its own.
            for name in {record["file"], record.get("device", "")} - {""}:
                text = text.replace(name, one_line(name))
            print(text)
        return
    for r in outcome.records:
        print(_piece_line(r))


def _f(v) -> float:
    return float("nan") if v is None else float(v)


def _piece_line(r: dict) -> str:
    """One window or segment as a line of text."""
    start = r.get("window_start_s", r.get("start_s"))
    end = r.get("window_end_s", r.get("end_s"))
    who = "  " + one_line(r["person"]) if r.get("person") else ""
    label = f"  {one_line(r['segment'])!s:24}" if "segment" in r else ""
    return (f"{one_line(r['file'])}{who}{label}  {_f(start):8.0f}-{_f(end):<8.0f} s  "
            f"{r['n_beats']:5d} beats  "
            f"HR {num(_f(r['mean_hr_bpm']), '5.1f'):>5}  SDNN {num(_f(r['sdnn_ms']), '6.1f'):>6}  "
            f"RMSSD {num(_f(r['rmssd_ms']), '6.1f'):>6} ms  "
            f"LF/HF {num(_f(r['lf_hf']), '5.2f'):>5}  "
            f"coherence {num(_f(r['coherence_mean']), '4.0f'):>4}")


class _Table:
    """The --csv table: created new (never over an existing file), a row per record."""

    def __init__(self, path: Path, options) -> None:
        import csv

        from biobreath.offline.batch import csv_columns

        self.path = path
        self.rows = 0
        try:
            self._file = open(path, "x", newline="", encoding="utf-8")
        except FileExistsError:
            raise BiobreathError(f"{path} already exists; choose another --csv (files are "
                                 "never overwritten)") from None
        except OSError as e:
            raise BiobreathError(f"cannot write the table {path}: {e.strerror or e}") from None
        self._writer = csv.DictWriter(self._file, csv_columns(options), lineterminator="\n")
        self._writer.writeheader()

    def write(self, records) -> None:
        from biobreath.offline.batch import flatten

        try:
            for r in records:
                self._writer.writerow(flatten(r))
                self.rows += 1
            self._file.flush()
        except OSError as e:
            raise BiobreathError(f"cannot write the table {self.path}: {e.strerror or e} "
                                 f"({self.rows} rows written)") from None

    def close(self) -> None:
        self._file.close()


class _Progress:
    """A one-line progress bar on stderr (a terminal), redrawn as each file finishes."""

    WIDTH = 30

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.failed = 0

    def advance(self, outcome) -> None:
        self.done += 1
        self.failed += outcome.error is not None
        filled = self.WIDTH * self.done // max(self.total, 1)
        failed = f", {self.failed} failed" if self.failed else ""
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] "
                         f"{self.done}/{self.total} files{failed}\x1b[K")
        sys.stderr.flush()

    def clear(self) -> None:
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()
