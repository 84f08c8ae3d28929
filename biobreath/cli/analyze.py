"""``biobreath analyze``: HRV analysis of session and RR files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from biobreath.cli.args import positive_seconds
from biobreath.errors import BiobreathError
from biobreath.ui.formatting import num, one_line

EXIT_ERROR = 1


def add_parser(sub) -> None:
    a = sub.add_parser("analyze", help="HRV analysis of session or RR files",
                       description="Analyse session files or RR files: text or CSV (RR in ms or "
                                   "s), Kubios, Polar Sensor Logger, HRV Logger, Elite HRV, "
                                   "EDF/EDF+, WFDB, Garmin FIT (recognised from the content).")
    a.add_argument("files", type=Path, nargs="+", metavar="FILE")
    a.add_argument("--format", type=rr_format, metavar="FORMAT",
                   help="read every FILE as FORMAT instead of recognising it from its content: "
                        "session, text (csv), kubios, polar, hrvlogger, elitehrv, edf, wfdb, fit, "
                        "biobreath-csv, biobreath-json")
    a.add_argument("--json", action="store_true", help="one JSON object per file, one per line")
    a.add_argument("--artifacts", choices=["auto", "none"], default="auto",
                   help="auto: detect and correct artifacts (Lipponen & Tarvainen 2019, as "
                        "Kubios); none: analyse the intervals as recorded (default auto)")
    a.add_argument("--window", type=positive_seconds, metavar="S",
                   help="analyse windows of S seconds (e.g. 300) instead of the whole file")
    a.add_argument("--step", type=positive_seconds, metavar="S",
                   help="start a window every S seconds (default: the window length)")
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


def run(args) -> int:
    from biobreath.files.readers import read_rr_all
    from biobreath.offline.analysis import analyze_recording

    if args.step is not None and args.window is None:
        raise BiobreathError("--step needs --window")
    if args.plot is not None and args.plot.is_file():
        raise BiobreathError(f"{args.plot} already exists; choose another --plot (files are "
                             "never overwritten)")
    status = 0
    for f in args.files:
        try:
            results = [analyze_recording(rec, artifact_mode=args.artifacts)
                       for rec in read_rr_all(f, args.format)]
            for k, result in enumerate(results):
                _report(args, result, _plot_path(args, f, k, len(results)))
        except BiobreathError as e:
            print(f"biobreath: {one_line(str(e))}", file=sys.stderr)
            status = EXIT_ERROR
    return status


def _plot_path(args, f: Path, k: int, n_straps: int) -> Path | None:
    """Where this file's (and strap's) figure goes: --plot itself for one file and one strap,
    else with the file's stem (and the strap number) before the suffix."""
    if args.plot is None:
        return None
    tag = Path(f).stem + (f"-{k + 1}" if n_straps > 1 else "")
    if args.plot.is_dir():
        path = args.plot / f"{tag}.png"
    elif len(args.files) == 1 and n_straps == 1:
        return args.plot
    else:
        path = args.plot.with_name(f"{args.plot.stem}-{tag}{args.plot.suffix}")
    if path.exists():
        raise BiobreathError(f"{path} already exists; choose another --plot (files are never "
                             "overwritten)")
    return path


def _report(args, result, plot: Path | None) -> None:
    """Print one analysis (whole file or --window rows) and write its figure."""
    from biobreath.offline.analysis import analyze_windows, format_report

    if plot is not None:
        from biobreath.offline.report import plot_report

        plot_report(result, plot)
    if args.window is None:
        if args.json:
            print(json.dumps(result.as_json(), allow_nan=False))
        else:  # a file or strap name must not add lines or terminal escapes of its own
            names = {str(result.path), result.device.name if result.device else ""} - {""}
            text = format_report(result)
            for name in names:
                text = text.replace(name, one_line(name))
            print(text)
        return
    windows = analyze_windows(result, args.window, args.step or args.window)
    if not windows:
        raise BiobreathError(f"{result.path}: shorter than one {args.window:g} s window")
    for w in windows:
        if args.json:
            print(json.dumps(w.as_json(result.path, result.device), allow_nan=False))
            continue
        t = w.hrv.time
        print(f"{one_line(str(result.path))}  {w.start_s:8.0f}-{w.end_s:<8.0f} s  "
              f"{w.n_beats:5d} beats  "
              f"HR {num(t.mean_hr_bpm, '5.1f'):>5}  SDNN {num(t.sdnn_ms, '6.1f'):>6}  "
              f"RMSSD {num(t.rmssd_ms, '6.1f'):>6} ms  "
              f"LF/HF {num(w.hrv.frequency.lf_hf, '5.2f'):>5}  "
              f"coherence {num(w.coherence_mean, '4.0f'):>4}")
