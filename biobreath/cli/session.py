"""``biobreath train`` and ``biobreath replay``: a session in the window or the terminal."""

from __future__ import annotations

import argparse
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
    add_source_args(t)
    t.add_argument("--person", metavar="NAME", action="append",
                   help="who is practising: a name or pseudonym (default: the last person, else "
                        "'me'); with several straps (--device ... or --people N) give one "
                        "--person per strap, in the same order: the first is the one practising")
    t.add_argument("--before", type=suds, metavar="N",
                   help="check-in before the session: how you feel, 0 (calm) to 10 (the most "
                        "distress); the window asks when it is not given")
    t.add_argument("--after", type=suds, metavar="N",
                   help="check-in after the session, 0-10, stored when it ends; the window asks "
                        "when it is not given")
    t.add_argument("--note", type=note, metavar="TEXT",
                   help="a line for your journal, stored with the after check-in")
    t.add_argument("--people", type=people, metavar="N",
                   help="with --source virtual: N simulated people (1-8), each on a virtual "
                        "strap of their own, with their own seed and resonance rate")
    t.add_argument("--protocol", metavar="NAME|PATH",
                   help="breathing protocol: a name from protocols/ or a .toml file "
                        "(default: the person's preferred protocol, else coherence)")
    t.add_argument("--duration", type=session_length, metavar="S",
                   help="session length in seconds (default: the person's preferred length, "
                        "else the protocol's)")
    t.add_argument("--sound", choices=["tone", "chime", "off"],
                   help="sound to breathe with, eyes closed: tone = a soft tone rising as you "
                        "breathe in and falling as you breathe out (silent in holds); chime = a "
                        "gentle chime at each change (default: the person's preferred sound, "
                        "else off; preferences are set with 'biobreath people NAME')")
    t.add_argument("--volume", type=_volume, default=0.5, metavar="0-1",
                   help="sound volume from 0 to 1 (default 0.5)")
    add_view_args(t)

    r = sub.add_parser("replay", help="play a recorded session through the live display",
                       description="Play a recorded session back through the same live core "
                                   "and window.")
    r.add_argument("file", type=Path, metavar="FILE", help="a biobreath session file")
    add_person_arg(r, "whose history the window shows (default: the recording's person)")
    add_view_args(r)
    t.set_defaults(run=run)
    r.set_defaults(run=run)


def add_source_args(p) -> None:
    """The strap options of ``train`` (and ``assess``): --source, --device, --out and the
    simulated person's --sim-resonance, --sim-link and --sim-seed."""
    p.add_argument("--source", choices=["auto", "sim", "ble", "virtual"], default="auto",
                   help="beat source: auto (default) = the person's Bluetooth strap (the last "
                        "one they used, else the first heard), or the simulated strap when "
                        "there is no Bluetooth or no strap (said in one line; --speed other than "
                        "1 and --sim-link mean the simulated strap); sim = simulated strap; ble "
                        "= a Bluetooth heart-rate strap; virtual = a virtual Polar H10 reached "
                        "over bleak and a simulated Bluetooth link (no hardware needed)")
    p.add_argument("--device", action="append", default=[], metavar="NAME|ADDRESS",
                   help="strap to connect to (repeat for several people at once); default: the "
                        "person's last strap, else the first one heard")
    p.add_argument("--out", type=Path, metavar="PATH",
                   help="recording file to create (default: a new file in the per-user data "
                        "folder); an existing file is never overwritten")
    p.add_argument("--sim-resonance", type=float, default=5.5, metavar="BPM",
                   help="simulated person's resonance rate, breaths/min (default 5.5)")
    p.add_argument("--sim-link", action="append", default=[], metavar="PROFILE",
                   help="how the simulated or virtual strap's link behaves (repeat, or separate "
                        "with commas): a delivery pattern, ideal (default), interval-30, "
                        "interval-400, stalls, extra-rr or burst; and, with --source virtual, "
                        "faults of real straps: split-advert, pair-required, silent-drop, "
                        "pmd-stop, pmd-stall, small-mtu, battery-hidden, adapter-off")
    p.add_argument("--sim-seed", type=seed, default=0, metavar="N",
                   help="random seed of the simulated person (default 0)")


MAX_PEOPLE = 8


def people(text: str) -> int:
    """``--people N``: a whole number of simulated people, 1 to :data:`MAX_PEOPLE`."""
    import argparse

    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= v <= MAX_PEOPLE:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_PEOPLE}")
    return v


def add_person_arg(p, what: str = "who is practising: a name or pseudonym (default: the last "
                                  "person, else 'me')") -> None:
    p.add_argument("--person", metavar="NAME", help=what)


def suds(text: str):
    """A check-in: a whole number from 0 to 10 (subjective units of distress)."""
    import argparse

    if not text.strip().isdigit() or not 0 <= int(text) <= 10:
        raise argparse.ArgumentTypeError(f"a check-in is a whole number from 0 to 10, not "
                                         f"{text!r}")
    return int(text)


def note(text: str) -> str:
    import argparse

    from biobreath.files.people import MAX_NOTE

    if not text.isprintable() or len(text) > MAX_NOTE:
        raise argparse.ArgumentTypeError(f"a note is one line of at most {MAX_NOTE} characters")
    return text.strip()


def _strap_targets(args, strap: str | None) -> tuple[list[str], bool]:
    """The straps to use and whether any other strap may stand in: --device (no stand-in: a
    strap asked for by name must be found), else the person's last strap (real Bluetooth only),
    which another strap replaces when it is not around."""
    if args.device or args.source != "ble":
        return list(args.device), False
    return ([strap], True) if strap else ([], False)


AUTO_SCAN_S = 3.0  # how long --source auto listens for a strap before taking the simulated one


def _auto_source(args) -> str:
    """What ``--source auto`` means here: "ble" when Bluetooth works and a heart-rate strap is
    heard within :data:`AUTO_SCAN_S`, else "sim", said in one line on standard error."""
    if args.device:
        return "ble"  # a strap asked for by name: wait for it, as --source ble does
    if args.speed != 1.0 or args.sim_link:
        return "sim"  # only simulated straps run faster or have a simulated link
    import asyncio

    from bleak.exc import BleakError

    from biobreath.sources.factory import scan_straps

    try:
        heard = asyncio.run(scan_straps(AUTO_SCAN_S))
    except (BiobreathError, BleakError, OSError) as e:
        why = str(e).split(";")[0] if isinstance(e, BiobreathError) else "Bluetooth failed"
    else:
        if heard:
            return "ble"
        why = f"no heart-rate strap heard within {AUTO_SCAN_S:g} s"
    print(f"biobreath: {why}: training with the simulated strap (--source ble waits for a "
          "strap)", file=sys.stderr, flush=True)
    return "sim"


def _has_display() -> bool:
    if os.environ.get("QT_QPA_PLATFORM", "").startswith(("offscreen", "minimal")):
        return True
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def run(args, *, on_window_end=None) -> int:
    """Run ``train`` or ``replay``; ``on_window_end(window, session)`` is called in the window
    when its session has ended (``assess`` shows its result so)."""
    from biobreath.core.pacer import Pacer
    from biobreath.files.recording import read_session
    from biobreath.session import Session

    if args.screenshot is not None:
        if args.headless:
            raise BiobreathError("--screenshot saves the window: it cannot go with --headless")
        if args.screenshot.exists():
            raise BiobreathError(f"{args.screenshot} already exists; choose another --screenshot "
                                 "(files are never overwritten)")
    if args.headless and (args.present or args.screen is not None):
        raise BiobreathError("--present and --screen show the window: they cannot go with "
                             "--headless")
    if getattr(args, "source", None) == "sim" and args.device:
        raise BiobreathError("--device chooses a Bluetooth strap: use it with --source ble or "
                             "--source virtual")
    if not args.headless and not _has_display():
        if args.screenshot is None:
            raise BiobreathError("no display found for the window; use --headless to train in "
                                 "the terminal (or --screenshot PNG to render offscreen)")
        os.environ["QT_QPA_PLATFORM"] = "offscreen"

    if args.command == "replay":
        from biobreath.files.recording import recorded_wearers
        from biobreath.sources.replay import ReplaySource

        data = read_session(args.file, keep_rows=True)  # the replay reads it once
        protocol = data.protocol()
        duration = data.planned_duration_s
        # The window shows the person's history; the terminal has none to show for a replay.
        practice = None if args.headless else _replay_practice(args, data)
        person = practice.person if practice else _replay_person(args, data) or ""

        def make_session(protocol):
            return Session(ReplaySource(data), _session_clock(args), Pacer(protocol),
                           duration_s=duration, listeners=_lsl(args, person),
                           wearers=recorded_wearers(data))
    else:
        # What only a new session needs (a replay starts sooner without them).
        from biobreath.files.protocols import load_protocol
        from biobreath.files.recording import default_session_path
        from biobreath.session.recorder import RecordingListener
        from biobreath.sources.factory import (
            open_simulated_strap,
            open_strap_source,
            sim_links,
            simulated_people,
            simulated_person,
            virtual_strap_ids,
        )

        out = args.out
        if out is not None and out.exists():
            raise BiobreathError(f"{out} already exists; choose another --out (recordings are "
                                 "never overwritten)")
        if not 3 <= args.sim_resonance <= 12:
            raise BiobreathError("--sim-resonance must be 3-12 breaths/min")
        practice, person = _practice(args)
        if args.person and len(args.person) > 1:
            _check_wearers(args)
        if args.command == "train":
            _use_preferences(args, person)
        # The person's own rate for protocols that pace at "resonance".
        protocol = load_protocol(args.protocol, resonance_bpm=person.resonance_bpm)
        if args.source == "auto":
            args.source = _auto_source(args)
        practice.simulated = args.source in ("sim", "virtual")
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
        targets, fallback = _strap_targets(args, person.strap)
        if args.people is not None:
            if args.source != "virtual" or args.device:
                raise BiobreathError("--people N simulates N people on virtual straps: use it "
                                     "with --source virtual and without --device")
            sim = simulated_people(args.people, args.sim_seed, args.sim_resonance, link)
            targets = [f"person {i + 1}" for i in range(args.people)]
        # A virtual strap is heard by the id its label gives it.
        wearers = _wearers(virtual_strap_ids(targets) if args.source == "virtual" else targets,
                           args.person or [])

        def make_session(protocol):
            pacer = Pacer(protocol)
            if args.source == "sim":
                source = open_simulated_strap(sim, pacer)
            else:
                source = open_strap_source(targets, virtual=args.source == "virtual",
                                           sim_params=sim, pacer=pacer, faults=faults,
                                           fallback_to_any=fallback,
                                           own_thread=not args.headless)
            recorder = RecordingListener(out or default_session_path(), person=practice.person,
                                         before=practice.before, after=practice.after)
            return Session(source, _session_clock(args), pacer, duration_s=args.duration,
                           listeners=[recorder, practice.listener(), *_sound(args),
                                      *_lsl(args, practice.person)], wearers=wearers)

    if args.headless:
        return _run_headless(make_session, protocol, args, practice)
    from biobreath.ui.window import run_window

    return run_window(make_session, protocol, screenshot=args.screenshot,
                      stop_signals=STOP_SIGNALS, practice=practice, present=args.present,
                      screen=args.screen, on_end=on_window_end,
                      replay=data if args.command == "replay" else None,
                      replay_speed=args.speed)


def _practice(args):
    """``train``: the person practising (resolved, so remembered as the last person) with the
    check-ins given on the command line, and the person as the database knows them."""
    from biobreath.files.people import Checkin, People
    from biobreath.session.history import Practice

    with People() as people:
        person = people.resolve(args.person[0] if args.person else None)
        path = people.path
    after = Checkin(args.after, args.note or "") if args.after is not None or args.note else None
    before = Checkin(args.before) if args.before is not None else None
    return Practice(person.name, path, before=before, after=after,
                    resonance_bpm=person.resonance_bpm), person


def _use_preferences(args, person) -> None:
    """Fill in the protocol, sound and length the command line left open from the person's
    preferences (else coherence, silent, the protocol's length), and say which were used."""
    used = []
    if args.protocol is None and person.protocol:
        used.append(f"protocol {person.protocol}")
    if args.sound is None and person.sound:
        used.append(f"sound {person.sound}")
    if args.duration is None and person.session_s:
        used.append(f"{person.session_s / 60.0:g} min")
    args.protocol = args.protocol or person.protocol or "coherence"
    args.sound = args.sound or person.sound or "off"
    if args.duration is None:
        args.duration = person.session_s
    if used:
        from biobreath.ui.formatting import one_line

        print(f"biobreath: {one_line(person.name)}'s preferences: {', '.join(used)}",
              file=sys.stderr)


def _check_wearers(args) -> None:
    """Several --person: one per strap asked for, each a valid name."""
    from biobreath.files.people import check_name

    straps = args.people or len(args.device)
    if len(args.person) != straps:
        raise BiobreathError(f"{len(args.person)} --person for {straps or 'one'} strap"
                             f"{'' if straps == 1 else 's'}: give one --person per strap "
                             "(--device ... or --people N), in the same order")
    args.person = [check_name(n) for n in args.person]


def _wearers(targets: list[str], names: list[str]):
    """Who wears which strap: the strap asked for k-th (by name, id or address) is worn by the
    k-th --person; None when the names are not given per strap."""
    if len(names) < 2:
        return None
    from biobreath.straps.ble import target_matches

    pairs = list(zip(targets, names, strict=True))
    return lambda info: next((name for target, name in pairs
                              if target_matches(target, info.address, info.name)), "")


def _replay_person(args, data) -> str | None:
    """``replay``: whose session it shows, --person (resolved, without adding anybody) or else
    the recording's person; None when neither is known."""
    recorded = data.meta.get("person")
    if args.person is None:
        return recorded if isinstance(recorded, str) else None
    from biobreath.files.people import People

    with People() as people:
        return people.resolve(args.person).name


def _replay_practice(args, data):
    """``replay``: the practice whose history the window shows (:func:`_replay_person`'s);
    None when nobody is known."""
    from biobreath.files.people import SIMULATED_KINDS, People
    from biobreath.session.history import Practice

    name = _replay_person(args, data)
    if name is None:
        return None
    with People() as people:
        practice = Practice(name, people.path, checkins=False)
    source = data.meta.get("source")
    practice.simulated = isinstance(source, dict) and source.get("kind") in SIMULATED_KINDS
    return practice


def _virtual_time(args) -> bool:
    """A virtual strap at --speed max runs on a virtual-time event loop: the strap, the simulated
    radio and the session then share one timeline that jumps ahead whenever all wait."""
    return getattr(args, "source", "") == "virtual" and args.speed is None


def _volume(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}") from None
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError("volume must be from 0 to 1")
    return v


def _sound(args) -> list:
    """The sound player ``--sound`` asks for (none for ``off``, or left open by ``assess``)."""
    if args.sound in (None, "off"):
        return []
    from biobreath.session.sound import SoundPlayer

    return [SoundPlayer(args.sound, args.volume)]


def _lsl(args, person: object) -> list:
    """The Lab Streaming Layer outlets ``--lsl`` asks for."""
    if not args.lsl:
        return []
    from biobreath.session.lsl import LslOutlets

    return [LslOutlets(person if isinstance(person, str) else "")]


def _session_clock(args):
    from biobreath.sources.factory import session_clock

    return session_clock(args.speed, virtual_time=_virtual_time(args))


def _run_headless(make_session, protocol, args, practice=None) -> int:
    import asyncio

    from biobreath.core.protocol import safety_line
    from biobreath.ui.headless import HeadlessPrinter, StdinMarks

    caught: list[int] = []

    async def main():
        # Built inside the running loop: a virtual-time clock reads that loop's time.
        session = make_session(protocol)
        session.listeners += [HeadlessPrinter(), StdinMarks()]  # each line typed: a marker
        print("# " + safety_line("Ctrl-C"), flush=True)
        loop = asyncio.get_running_loop()
        for signum in STOP_SIGNALS:
            # A signal ends the session as the stop key would: closed, summarised, saved.
            loop.add_signal_handler(signum, lambda n=signum: (caught.append(n), session.stop()))
        await session.run()
        if practice is not None and practice.words():
            print(f"# progress: {practice.words()}", flush=True)

    from biobreath.sources.factory import loop_factory

    with asyncio.Runner(loop_factory=loop_factory(virtual_time=_virtual_time(args))) as runner:
        runner.run(main())
    return 128 + caught[0] if caught else 0


#: Signals that end a session cleanly (exit status 128 + the signal's number, as shells expect).
STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, n))
