"""Lab Streaming Layer outlets: a session's beats, heart rate, coherence, pacer, markers, ECG and
acceleration as LSL streams, so a lab's recorder (LabRecorder) writes them into one XDF file
beside EEG, skin conductance or eye tracking.

Streams (names start with ``biobreath``; per strap they carry its name and address):

- ``RR`` (type ``RR``, irregular): ``rr`` (ms), every beat as the strap reported it, pushed as it
  arrives and stamped at the beat's own time;
- ``Beats`` (type ``RR``, irregular): ``rr`` (ms) and ``artifact`` (1: rejected) for every beat
  once the live detector judged it, two beats later (an extra beat's interval is merged into the
  next, as the live core does); stamped at the beat, so it joins ``RR`` on time;
- ``HR`` (type ``HR``, irregular): ``heart_rate`` (bpm, 60000 / RR) of every accepted beat;
- ``Coherence`` (type ``Coherence``, irregular): ``score`` (0-100), ``ratio``, ``peak`` (Hz) at
  the end of each 64 s window, every 5 s;
- ``ECG`` (µV) and ``ACC`` (mg, x/y/z) at the strap's rates, when the strap sends them (opened at
  the first frame), every sample stamped from its frame's first-sample time and rate;
- ``Pacer`` (type ``Pacer``, 10 Hz): ``volume`` (0-1, NaN in free breathing), ``phase`` (breaths,
  0-1 within each breath) and ``target_rate`` (breaths/min) from the session clock;
- ``Markers`` (type ``Markers``, one string channel): every :class:`~biobreath.events.Marker`.

Time: session seconds map linearly to :func:`pylsl.local_clock` from one pair of readings taken
when the session starts, at the session clock's speed (at speed 1, live: by their offset, so a
beat is stamped at its reconstructed time, not when its notification came). A clock that does
not follow the computer's (``--speed max``, a virtual-time loop) is stamped with
``local_clock()`` at push time instead; then only the order of samples means anything. At
``--speed 10`` the streams are the session ten times faster on the LSL clock (sample values,
such as RR in ms, unchanged).

Without pylsl or liblsl, or when an outlet cannot open, one warning is logged and the session
goes on without LSL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from biobreath import __version__
from biobreath.clock import Clock
from biobreath.core.coherence import CoherenceResult
from biobreath.core.live import BeatVerdict, LiveState
from biobreath.events import AccSamples, Beat, EcgSamples, Event, Marker, Tick
from biobreath.session.listener import SessionListener

if TYPE_CHECKING:
    from biobreath.session.session import Session

log = logging.getLogger(__name__)

PACER_HZ = 10.0
#: How far (s) the mapped session clock may stray from the LSL clock before the session clock
#: is taken as one that does not follow the computer's (a virtual-time loop).
MAX_CLOCK_DISAGREEMENT_S = 0.25
#: Wall seconds outlets stay open after the session when someone listens: liblsl drops samples
#: still in flight when an outlet closes (most of a burst pushed just before, on this machine).
CLOSE_LINGER_S = 0.2


class LslTime:
    """Maps session time (s) to LSL time (s): linearly at the clock's speed from one pair of
    readings taken at construction. A clock without a speed (``--speed max``), or one found more
    than :data:`MAX_CLOCK_DISAGREEMENT_S` away from that line (a virtual-time loop), is unmapped
    from then on: every time maps to the LSL clock's present reading."""

    def __init__(self, clock: Clock, local_clock: Callable[[], float]) -> None:
        self._clock = clock
        self._local_clock = local_clock
        self._speed = clock.speed
        self._t0, self._lsl0 = read_together(clock, local_clock)
        self.mapped = self._speed is not None

    def __call__(self, t: float | np.ndarray) -> float | np.ndarray:
        """The LSL time of session time ``t`` (s), or the LSL clock now when unmapped."""
        if self.mapped and abs(self._local_clock() - self._map(self._clock.now())) > \
                MAX_CLOCK_DISAGREEMENT_S:
            self.mapped = False
        if not self.mapped:
            now = self._local_clock()
            return now if np.ndim(t) == 0 else np.full(np.shape(t), now)
        return self._map(t)

    def _map(self, t):
        return self._lsl0 + (t - self._t0) / self._speed


def read_together(clock: Clock, local_clock: Callable[[], float],
                  tries: int = 20) -> tuple[float, float]:
    """Session time and LSL time (s) read at one moment: ``clock.now()`` between two LSL
    readings, the closest-spaced pair of ``tries`` (a thread switch between two readings would
    shift every timestamp of the session)."""
    best = None
    for _ in range(tries):
        before = local_clock()
        now = clock.now()
        after = local_clock()
        if best is None or after - before < best[0]:
            best = (after - before, now, (before + after) / 2)
    return best[1], best[2]


def _channels(info, channels: list[tuple[str, str, str]]) -> None:
    node = info.desc().append_child("channels")
    for label, unit, kind in channels:
        ch = node.append_child("channel")
        ch.append_child_value("label", label)
        ch.append_child_value("unit", unit)
        ch.append_child_value("type", kind)


class LslOutlets(SessionListener):
    """Publishes the session it follows as LSL streams (module docstring); ``person`` is written
    into every strap's stream metadata."""

    def __init__(self, person: str = "") -> None:
        self.person = person
        self._lsl = None  # the pylsl module once outlets are open; None: LSL is off
        self._time: LslTime | None = None
        self._session: Session | None = None
        self._outlets: dict[tuple[str, str], object] = {}  # (device, stream) -> outlet
        self._next_pace = 0  # index of the next pacer sample (PACER_HZ on the session clock)
        self._pacer_task: asyncio.Task | None = None

    @property
    def active(self) -> bool:
        return self._lsl is not None

    # -- opening and closing -------------------------------------------------------------
    def on_start(self, session: Session) -> None:
        self._session = session
        try:
            import pylsl
        except Exception as e:  # noqa: BLE001 - ImportError, or RuntimeError without liblsl
            self._off(f"pylsl or liblsl is not available ({e}); install biobreath[research]")
            return
        self._lsl = pylsl
        self._time = LslTime(session.clock, pylsl.local_clock)
        host = socket.gethostname()
        pacer = self._open("", "Pacer", "Pacer", [("volume", "normalized", "Volume"),
                                                  ("phase", "breaths", "Phase"),
                                                  ("target_rate", "breaths/min", "Rate")],
                           PACER_HZ, "float32", f"biobreath-pacer@{host}")
        if pacer is not None:
            self._open("", "Markers", "Markers", [("marker", "", "Marker")], 0.0, "string",
                       f"biobreath-markers@{host}")
        for info in session.source.devices:
            self._open_strap(info.address)
        if self.active and session.clock.wall_delay(0.0) is not None:
            # A clock that waits: the pacer stream keeps time even when no event comes.
            self._pacer_task = asyncio.get_running_loop().create_task(self._pace())

    def _off(self, why: str) -> None:
        # One line whatever liblsl said (its messages can span several).
        log.warning("Lab Streaming Layer off, the session goes on without it: %s",
                    " ".join(why.split()))
        self._close()

    def _open(self, device: str, stream: str, kind: str, channels: list[tuple[str, str, str]],
              rate: float, fmt: str, source_id: str):
        """Open one outlet; on failure turn LSL off (one warning) and return None."""
        if not self.active:
            return None
        lsl = self._lsl
        info_ = self._device_info(device)
        name = f"biobreath {stream}" + (f" {info_.name if info_ else device}" if device else "")
        try:
            info = lsl.StreamInfo(name, kind, len(channels), rate, fmt, source_id)
            _channels(info, channels)
            desc = info.desc()
            acq = desc.append_child("acquisition")
            acq.append_child_value("manufacturer", info_.manufacturer if info_ else "biobreath")
            acq.append_child_value("model", info_.model if info_ else "biobreath pacer")
            acq.append_child_value("software", f"biobreath {__version__}")
            if device:
                acq.append_child_value("device_name", info_.name if info_ else device)
                acq.append_child_value("device_address", device)
                desc.append_child("subject").append_child_value("id", self.person)
            if stream == "Beats":
                desc.append_child_value("artifact_method", "Lipponen & Tarvainen 2019, causal "
                                        "(live detector, two beats after the beat)")
            if stream == "RR":
                desc.append_child_value("beats", "every beat as the strap reported it, "
                                        "before artifact detection")
            outlet = lsl.StreamOutlet(info)
        except Exception as e:  # noqa: BLE001 - liblsl refused (no network, no sockets)
            self._off(f"could not open the {stream} stream ({e})")
            return None
        self._outlets[device, stream] = outlet
        return outlet

    def _device_info(self, device: str):
        if not device or self._session is None:
            return None
        return next((d for d in self._session.source.devices if d.address == device), None)

    def _open_strap(self, device: str) -> None:
        sid = f"biobreath-{device}"
        for stream, kind, channels in (
                ("RR", "RR", [("rr", "ms", "RR")]),
                ("Beats", "RR", [("rr", "ms", "RR"), ("artifact", "boolean", "Artifact")]),
                ("HR", "HR", [("heart_rate", "bpm", "HR")]),
                ("Coherence", "Coherence", [("score", "percent", "Coherence"),
                                            ("ratio", "ratio", "CoherenceRatio"),
                                            ("peak", "Hz", "Frequency")])):
            self._open(device, stream, kind, channels, 0.0, "double64",
                       f"{sid}-{stream.lower()}")

    def on_stop(self, t: float) -> None:
        if self.active:
            self._pace_until(t)
        self._close()

    def _close(self) -> None:
        if self._pacer_task is not None:
            self._pacer_task.cancel()
            self._pacer_task = None
        if any(o.have_consumers() for o in self._outlets.values()):
            time.sleep(CLOSE_LINGER_S)  # let the tail reach the recorders (see CLOSE_LINGER_S)
        self._outlets.clear()  # liblsl closes an outlet when it is dropped
        self._lsl = None

    # -- pushing -------------------------------------------------------------------------
    def _push(self, device: str, stream: str, samples, stamps) -> None:
        outlet = self._outlets.get((device, stream))
        if outlet is None:
            return
        try:
            outlet.push_chunk(samples, list(stamps))
        except Exception as e:  # noqa: BLE001 - a broken outlet must not end the session
            self._off(f"pushing to the {stream} stream failed ({e})")

    def on_event(self, ev: Event) -> None:
        if not self.active or isinstance(ev, Tick):
            if isinstance(ev, Tick) and self.active:
                self._pace_until(ev.t)
            return
        if isinstance(ev, Marker):
            self._pace_until(ev.t)
            self._push("", "Markers", [[ev.text]], [self._time(ev.t)])
            return
        if ev.device and (ev.device, "RR") not in self._outlets:
            self._open_strap(ev.device)
        if isinstance(ev, Beat):
            self._push(ev.device, "RR", [[ev.rr_ms]], [self._time(ev.t)])
        elif isinstance(ev, EcgSamples):
            self._frame(ev.device, "ECG", [("ecg", "microvolts", "ECG")], ev,
                        np.asarray(ev.uv, dtype=np.float32).reshape(-1, 1))
        elif isinstance(ev, AccSamples):
            self._frame(ev.device, "ACC", [(a, "mg", "Acceleration") for a in "xyz"], ev,
                        np.asarray(ev.mg, dtype=np.float32).reshape(-1, 3))
        self._pace_until(ev.t)

    def _frame(self, device: str, stream: str, channels, ev, samples: np.ndarray) -> None:
        if (device, stream) not in self._outlets:
            self._open(device, stream, stream, channels, ev.fs_hz, "float32",
                       f"biobreath-{device}-{stream.lower()}")
        t = ev.t0 + np.arange(len(samples)) / ev.fs_hz
        self._push(device, stream, samples, self._time(t))

    def on_beat(self, device: str, verdict: BeatVerdict, state: LiveState) -> None:
        if not self.active:
            return
        stamp = [self._time(verdict.t)]
        self._push(device, "Beats", [[verdict.rr_ms, float(verdict.artifact)]], stamp)
        if not verdict.artifact:
            self._push(device, "HR", [[verdict.hr_bpm]], stamp)

    def on_coherence(self, device: str, result: CoherenceResult) -> None:
        if self.active:
            self._push(device, "Coherence", [[result.score, result.ratio, result.peak_hz]],
                       [self._time(result.t)])

    def _pace_until(self, t: float) -> None:
        """Push every pacer sample due by session time ``t`` (s)."""
        if not self.active or ("", "Pacer") not in self._outlets:
            return
        pacer = self._session.pacer
        end = min(t, self._session.duration_s)
        n = math.floor(end * PACER_HZ + 1e-9) + 1  # samples 0 .. n-1 are due
        if n <= self._next_pace:
            return
        ts = np.arange(self._next_pace, n) / PACER_HZ
        self._next_pace = n
        rate = [pacer.segment(x).shape.rate_bpm if pacer.segment(x).shape else math.nan
                for x in ts]
        volume = np.atleast_1d(pacer.volume(ts))
        phase = np.mod(np.atleast_1d(pacer.phase(ts)), 1.0)
        self._push("", "Pacer", np.column_stack([volume, phase, rate]), self._time(ts))

    async def _pace(self) -> None:
        """Keep the pacer stream going on a clock that waits, between the source's events."""
        clock = self._session.clock
        with contextlib.suppress(asyncio.CancelledError):
            # Unmapped (a clock that does not follow the computer's), samples are stamped when
            # pushed anyway, so the source's events pace them.
            while self.active and self._time.mapped and \
                    (due := self._next_pace / PACER_HZ) <= self._session.duration_s:
                await clock.sleep_until(due)
                self._pace_until(clock.now())
