"""``biobreath train`` and ``biobreath replay``: a session in the window or the terminal."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from biobreath.cli.args import add_view_args, seed, session_length
from biobreath.errors import BiobreathError


def add_parsers(sub) -> None:
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
    t.add_argument("--duration", type=session_length, metavar="S",
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
    t.add_argument("--sim-seed", type=seed, default=0, metavar="N",
                   help="random seed of the simulated person (default 0)")
    add_view_args(t)

    r = sub.add_parser("replay", help="play a recorded session through the live display",
                       description="Play a recorded session back through the same live core "
                                   "and window.")
    r.add_argument("file", type=Path, metavar="FILE", help="a biobreath session file")
    add_view_args(r)
    t.set_defaults(run=run)
    r.set_defaults(run=run)


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


def run(args) -> int:
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
                                           fallback_to_any=fallback,
                                           own_thread=not args.headless)
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
