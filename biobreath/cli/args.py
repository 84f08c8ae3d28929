"""Argument types and option groups shared by several commands."""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'max', got {text!r}") from None
    if not 0 < v <= 1e6:
        raise argparse.ArgumentTypeError("speed must be above 0 and at most 1000000")
    return v


def positive_seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < v < math.inf:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return v


MAX_SESSION_S = 24 * 3600.0  # longer is no breathing session, and would never end at --speed max


def session_length(text: str) -> float:
    v = positive_seconds(text)
    if v > MAX_SESSION_S:
        raise argparse.ArgumentTypeError(f"a session lasts at most {MAX_SESSION_S:g} s (24 h)")
    return v


def seed(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= v < 2 ** 32:
        raise argparse.ArgumentTypeError("must be from 0 to 4294967295")
    return v


def screen_number(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a screen number, got {text!r}") from None
    if not 0 <= v < 64:
        raise argparse.ArgumentTypeError("screens are numbered from 0")
    return v


def add_view_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--speed", type=speed, default=1.0, metavar="X|max",
                   help="run on a virtual clock X times faster than real time; 'max' as fast as "
                        "possible (simulated and replayed sessions only; default 1)")
    p.add_argument("--headless", action="store_true",
                   help="no window: print one line per breath (time, heart rate, coherence)")
    p.add_argument("--screenshot", type=Path, metavar="PNG",
                   help="save the window to PNG when the session ends, then quit")
    p.add_argument("--present", action="store_true",
                   help="presentation mode: full screen, controls hidden, figures large enough "
                        "to read from across the room (F or F11 in the window; Esc leaves it)")
    p.add_argument("--screen", type=screen_number, metavar="N",
                   help="the screen for presentation mode, counted from 0 (implies --present; "
                        "default: the screen the window opens on)")
    p.add_argument("--lsl", action="store_true",
                   help="stream RR intervals, heart rate, coherence, the pacer, markers and raw "
                        "ECG/ACC to Lab Streaming Layer outlets, for LabRecorder and other lab "
                        "recorders (needs pylsl: pip install 'biobreath[research]')")
