"""The ``biobreath`` command: train, replay, analyze.

Every user-facing failure is one line on stderr and a non-zero exit (1 for a problem with the
input or the machine, 2 for a malformed command line); never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
import sys
from pathlib import Path

from biobreath import __version__
from biobreath.errors import BiobreathError
from biobreath.ui.formatting import num, one_line

EXIT_ERROR = 1


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'max', got {text!r}") from None
    if not 0 < v <= 1e6:
        raise argparse.ArgumentTypeError("speed must be above 0 and at most 1000000")
    return v


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < v < math.inf:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return v


MAX_SESSION_S = 24 * 3600.0  # longer is no breathing session, and would never end at --speed max


def _session_length(text: str) -> float:
    v = _positive(text)
    if v > MAX_SESSION_S:
        raise argparse.ArgumentTypeError(f"a session lasts at most {MAX_SESSION_S:g} s (24 h)")
    return v


def _seed(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= v < 2 ** 32:
        raise argparse.ArgumentTypeError("must be from 0 to 4294967295")
    return v


def _add_view_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--speed", type=_speed, default=1.0, metavar="X|max",
                   help="run on a virtual clock X times faster than real time; 'max' as fast as "
                        "possible (simulated and replayed sessions only; default 1)")
    p.add_argument("--headless", action="store_true",
                   help="no window: print one line per breath (time, heart rate, coherence)")
    p.add_argument("--screenshot", type=Path, metavar="PNG",
                   help="save the window to PNG when the session ends, then quit")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="biobreath", description="HRV biofeedback breathing trainer and analyser.")
    parser.add_argument("--version", action="version", version=f"biobreath {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    t = sub.add_parser("train", help="paced-breathing session with live feedback",
                       description="Run a paced-breathing session with live heart-rate feedback; "
                                   "the session is recorded as it happens.")
    t.add_argument("--source", choices=["sim", "ble", "virtual"], default="sim",
                   help="beat source: sim = simulated strap (default); ble = a Bluetooth "
                        "heart-rate strap; virtual = a virtual Polar H10 reached over bleak "
                        "and a simulated Bluetooth link (no hardware needed)")
    t.add_argument("--device", action="append", default=[], metavar="NAME|ADDRESS",
                   help="strap to connect to (repeat for several people at once); default: the "
                        "last strap used, else the first one heard")
    t.add_argument("--protocol", default="coherence", metavar="NAME|PATH",
                   help="breathing protocol: a name from protocols/ or a .toml file "
                        "(default: coherence)")
    t.add_argument("--duration", type=_session_length, metavar="S",
                   help="session length in seconds (default: the protocol's length)")
    t.add_argument("--out", type=Path, metavar="PATH",
                   help="recording file to create (default: a new file in the per-user data "
                        "folder); an existing file is never overwritten")
    t.add_argument("--sim-resonance", type=float, default=5.5, metavar="BPM",
                   help="simulated person's resonance rate, breaths/min (default 5.5)")
    t.add_argument("--sim-link", action="append", default=[], metavar="PROFILE",
                   help="how the simulated or virtual strap's link behaves (repeat, or separate "
                        "with commas): a delivery pattern, ideal (default), interval-30, "
                        "interval-400, stalls, extra-rr or burst; and, with --source virtual, "
                        "faults of real straps: split-advert, pair-required, silent-drop, "
                        "pmd-stop, pmd-stall, small-mtu, battery-hidden, adapter-off")
    t.add_argument("--sim-seed", type=_seed, default=0, metavar="N",
                   help="random seed of the simulated person (default 0)")
    _add_view_args(t)

    r = sub.add_parser("replay", help="play a recorded session through the live display",
                       description="Play a recorded session back through the same live core "
                                   "and window.")
    r.add_argument("file", type=Path, metavar="FILE", help="a biobreath session file")
    _add_view_args(r)

    sc = sub.add_parser("scan", help="list nearby heart-rate straps",
                        description="List Bluetooth devices advertising the Heart Rate Service.")
    sc.add_argument("--virtual", action="store_true",
                    help="scan the virtual radio (finds the virtual Polar H10)")
    sc.add_argument("--timeout", type=_positive, default=5.0, metavar="S",
                    help="how long to listen, seconds (default 5)")

    a = sub.add_parser("analyze", help="HRV analysis of session or RR files",
                       description="Analyse session files or RR files: text or CSV (RR in ms or "
                                   "s), Kubios, Polar Sensor Logger, HRV Logger, Elite HRV, "
                                   "EDF/EDF+, WFDB, Garmin FIT (recognised from the content).")
    a.add_argument("files", type=Path, nargs="+", metavar="FILE")
    a.add_argument("--format", type=_rr_format, metavar="FORMAT",
                   help="read every FILE as FORMAT instead of recognising it from its content: "
                        "session, text (csv), kubios, polar, hrvlogger, elitehrv, edf, wfdb, fit, "
                        "biobreath-csv, biobreath-json")
    a.add_argument("--json", action="store_true", help="one JSON object per file, one per line")
    a.add_argument("--artifacts", choices=["auto", "none"], default="auto",
                   help="auto: detect and correct artifacts (Lipponen & Tarvainen 2019, as "
                        "Kubios); none: analyse the intervals as recorded (default auto)")
    a.add_argument("--window", type=_positive, metavar="S",
                   help="analyse windows of S seconds (e.g. 300) instead of the whole file")
    a.add_argument("--step", type=_positive, metavar="S",
                   help="start a window every S seconds (default: the window length)")
    a.add_argument("--plot", type=Path, metavar="PNG",
                   help="write a report figure (tachogram, spectrum, Poincaré plot); with "
                        "several files, each file's name is added before the suffix; a folder "
                        "gets one FILE.png per file")

    x = sub.add_parser("export", help="write a session for other HRV tools",
                       description="Export a session's beats (and its ECG, accelerometer, pacer "
                                   "and markers when recorded) as Kubios RR text, CSV, EDF+, WFDB "
                                   "or JSON: one set of files per person; never overwrites.")
    x.add_argument("session", type=Path, metavar="SESSION")
    x.add_argument("--to", required=True, choices=EXPORT_FORMATS)
    x.add_argument("--out", type=Path, metavar="PATH",
                   help="a folder, or a name without suffix (default: beside the session)")
    return parser


#: The --to choices of ``export`` (kept equal to biobreath.files.export.EXPORT_FORMATS by a test).
EXPORT_FORMATS = ("kubios", "csv", "edf", "wfdb", "json")


def _rr_format(text: str) -> str:
    from biobreath.files.formats import canonical  # loaded only when --format is given

    try:
        return canonical(text)
    except BiobreathError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def main(argv: list[str] | None = None) -> int:
    _guard_terminal()
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    # bumble (the virtual strap's Bluetooth stack) warns about every packet sent after a
    # disconnect; those are expected when a session ends.
    logging.getLogger("bumble").setLevel(logging.ERROR)
    try:
        if args.command == "analyze":
            return _analyze(args)
        if args.command == "scan":
            return _scan(args)
        if args.command == "export":
            return _export(args)
        return _run_session(args)
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


def _export(args) -> int:
    from biobreath.files.export import export_session

    for path in export_session(args.session, args.to, args.out):
        print(one_line(str(path)))
    return 0


def _analyze(args) -> int:
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


def _scan(args) -> int:
    import asyncio

    from biobreath.sources.factory import scan_straps

    found = asyncio.run(scan_straps(args.timeout, virtual=args.virtual))
    if not found:
        print(f"no heart-rate straps heard in {args.timeout:g} s; is the strap worn (its "
              "electrodes moist) and not connected to another app?")
        return 0
    print(f"{'name':<24} {'address':<20} {'signal':>7}  profile")
    for r in found:
        print(f"{one_line(r.name) or '?':<24} {one_line(r.address):<20} {r.rssi:>4} dBm  "
              f"{r.profile.name}")
    return 0


def _last_strap_file() -> Path:
    from biobreath.files.recording import default_session_dir

    return default_session_dir().parent / "last-strap.txt"


def _strap_targets(args) -> tuple[list[str], bool]:
    """The straps to use and whether any other strap may stand in: --device (no stand-in: a
    strap asked for by name must be found), else the last strap used (real Bluetooth only), which
    another strap replaces when it is not around."""
    if args.device or args.source != "ble":
        return list(args.device), False
    try:
        last = _last_strap_file().read_text(encoding="utf-8").strip()
    except OSError:
        return [], False
    return ([last], True) if last else ([], False)


def _remember_strap(session) -> None:
    """Remember the strap by its name: addresses differ between computers on macOS."""
    if session.source.kind == "ble" and session.primary:
        info = next((d for d in session.source.devices if d.address == session.primary), None)
        try:
            f = _last_strap_file()
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text((info.name if info and info.name else session.primary) + "\n",
                         encoding="utf-8")
        except OSError:
            pass  # remembering is a convenience; the session itself is recorded


def _has_display() -> bool:
    if os.environ.get("QT_QPA_PLATFORM", "").startswith(("offscreen", "minimal")):
        return True
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def _run_session(args) -> int:
    from biobreath.core.pacer import Pacer
    from biobreath.files.protocols import load_protocol
    from biobreath.files.recording import default_session_path, read_session
    from biobreath.session import Session
    from biobreath.session.recorder import RecordingListener

    if args.screenshot is not None:
        if args.headless:
            raise BiobreathError("--screenshot saves the window: it cannot go with --headless")
        if args.screenshot.exists():
            raise BiobreathError(f"{args.screenshot} already exists; choose another --screenshot "
                                 "(files are never overwritten)")
    if getattr(args, "source", None) == "sim" and args.device:
        raise BiobreathError("--device chooses a Bluetooth strap: use it with --source ble or "
                             "--source virtual")
    if not args.headless and not _has_display():
        if args.screenshot is None:
            raise BiobreathError("no display found for the window; use --headless to train in "
                                 "the terminal (or --screenshot PNG to render offscreen)")
        os.environ["QT_QPA_PLATFORM"] = "offscreen"

    if args.command == "replay":
        from biobreath.sources.replay import ReplaySource

        data = read_session(args.file)
        protocol = data.protocol()
        duration = data.planned_duration_s

        def make_session(protocol):
            return Session(ReplaySource(data), _session_clock(args), Pacer(protocol),
                           duration_s=duration)
    else:
        from biobreath.sources.factory import (
            open_simulated_strap,
            open_strap_source,
            sim_links,
            simulated_person,
        )

        protocol = load_protocol(args.protocol)
        out = args.out
        if out is not None and out.exists():
            raise BiobreathError(f"{out} already exists; choose another --out (recordings are "
                                 "never overwritten)")
        if not 3 <= args.sim_resonance <= 12:
            raise BiobreathError("--sim-resonance must be 3-12 breaths/min")
        if args.source == "virtual" and args.speed is None and not args.headless:
            raise BiobreathError("--speed max with the virtual strap needs --headless; in the "
                                 "window give a number, such as --speed 10")
        if args.source == "ble" and args.speed != 1.0:
            raise BiobreathError("--speed applies to simulated and virtual straps; a real strap "
                                 "beats in real time")
        if args.source == "ble" and args.sim_link:
            raise BiobreathError("--sim-link shapes the simulated and virtual straps' links; a "
                                 "real strap has its own")
        link, faults = sim_links(args.sim_link, virtual=args.source == "virtual")
        sim = simulated_person(args.sim_seed, args.sim_resonance, link)
        targets, fallback = _strap_targets(args)

        def make_session(protocol):
            pacer = Pacer(protocol)
            if args.source == "sim":
                source = open_simulated_strap(sim, pacer)
            else:
                source = open_strap_source(targets, virtual=args.source == "virtual",
                                           sim_params=sim, pacer=pacer, faults=faults,
                                           fallback_to_any=fallback)
            recorder = RecordingListener(out or default_session_path())
            return Session(source, _session_clock(args), pacer, duration_s=args.duration,
                           listeners=[recorder])

    if args.headless:
        return _run_headless(make_session, protocol, args)
    from biobreath.ui.window import run_window

    return run_window(make_session, protocol, screenshot=args.screenshot,
                      stop_signals=STOP_SIGNALS)


def _virtual_time(args) -> bool:
    """A virtual strap at --speed max runs on a virtual-time event loop: the strap, the simulated
    radio and the session then share one timeline that jumps ahead whenever all wait."""
    return getattr(args, "source", "") == "virtual" and args.speed is None


def _session_clock(args):
    from biobreath.sources.factory import session_clock

    return session_clock(args.speed, virtual_time=_virtual_time(args))


def _run_headless(make_session, protocol, args) -> int:
    import asyncio

    from biobreath.ui.headless import HeadlessPrinter

    caught: list[int] = []

    async def main():
        # Built inside the running loop: a virtual-time clock reads that loop's time.
        session = make_session(protocol)
        session.listeners.append(HeadlessPrinter())
        loop = asyncio.get_running_loop()
        for signum in STOP_SIGNALS:
            # A signal ends the session as the stop key would: closed, summarised, saved.
            loop.add_signal_handler(signum, lambda n=signum: (caught.append(n), session.stop()))
        await session.run()
        _remember_strap(session)

    from biobreath.sources.factory import loop_factory

    with asyncio.Runner(loop_factory=loop_factory(virtual_time=_virtual_time(args))) as runner:
        runner.run(main())
    return 128 + caught[0] if caught else 0


#: Signals that end a session cleanly (exit status 128 + the signal's number, as shells expect).
STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, n))


def _guard_terminal() -> None:
    """Let stdout and stderr show any name, even one that is not valid in their encoding (a
    non-UTF-8 file name), escaped rather than failing with UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
