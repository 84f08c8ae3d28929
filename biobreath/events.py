"""Typed events that every beat source emits.

Times are seconds on the session clock (``t``, s); raw RR intervals stay in 1/1024 s ticks as
the strap sent them. ``device`` names which strap an event came from (several straps, one per
person, can feed one session).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

TICKS_PER_S = 1024


def ticks_to_ms(ticks: int | float) -> float:
    """Convert 1/1024 s ticks to milliseconds."""
    return ticks * 1000.0 / TICKS_PER_S


@dataclass(frozen=True, slots=True)
class Beat:
    """One heartbeat: the RR interval that ended at ``t``.

    ``rr_ticks`` is the strap's raw interval (1/1024 s); ``t`` the reconstructed time of the beat
    that closed it (s, session clock); ``arrival`` when its notification arrived (s). ``gap``: the
    beat chain broke just before this beat (RRs were lost, or the timer re-anchored), so nothing
    that needs adjacent beats (successive differences, a spectrum) may span it.
    """

    t: float
    rr_ticks: int
    arrival: float
    device: str = ""
    gap: bool = False

    @property
    def rr_ms(self) -> float:
        return ticks_to_ms(self.rr_ticks)


@dataclass(frozen=True, slots=True)
class HeartRate:
    """The heart rate the strap itself reported (bpm, integer as sent)."""

    t: float
    bpm: int
    device: str = ""


class SignalQuality(enum.Enum):
    GOOD = "good"
    NOISY = "noisy"  # contact reported, but RRs are being rejected as artifacts
    NO_CONTACT = "no_contact"
    UNKNOWN = "unknown"  # the strap does not report skin contact


@dataclass(frozen=True, slots=True)
class Contact:
    """Skin contact as the strap reports it: True, False, or None when it cannot tell."""

    t: float
    contact: bool | None
    device: str = ""


@dataclass(frozen=True, slots=True)
class Battery:
    t: float
    percent: int
    device: str = ""


class LinkState(enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    LOST = "lost"
    RECONNECTED = "reconnected"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Link:
    """A change of the connection to a strap; ``detail`` is a short human-readable reason."""

    t: float
    state: LinkState
    detail: str = ""
    device: str = ""


@dataclass(frozen=True, slots=True)
class Notification:
    """The raw bytes of one Heart Rate Measurement notification, kept for the recording."""

    t: float
    payload: bytes
    device: str = ""


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What a source knows about the strap behind it."""

    name: str
    address: str = ""
    model: str = ""
    manufacturer: str = ""
    firmware: str = ""
    profile: str = "generic"


@dataclass(frozen=True, slots=True, eq=False)
class EcgSamples:
    """One frame of raw ECG (Polar PMD): ``uv`` in µV, first sample at ``t0`` (s, session
    clock), evenly spaced at ``fs_hz``; ``t`` is the frame's arrival (s)."""

    t: float
    t0: float
    fs_hz: float
    uv: np.ndarray
    device: str = ""


@dataclass(frozen=True, slots=True, eq=False)
class AccSamples:
    """One frame of chest acceleration (Polar PMD): ``mg`` shape (n, 3) in milli-g (x, y, z),
    first sample at ``t0`` (s, session clock), evenly spaced at ``fs_hz``."""

    t: float
    t0: float
    fs_hz: float
    mg: np.ndarray
    device: str = ""


@dataclass(frozen=True, slots=True)
class Timing:
    """Whether a strap's beat times can be trusted changed: ``degraded`` when the beat timer's
    uncertainty (``uncertainty_ms``, half the width of what the RR chain allows) is large or
    notifications arrive ``lateness_ms`` late (a busy computer, a slow link)."""

    t: float
    degraded: bool
    uncertainty_ms: float
    lateness_ms: float
    device: str = ""


@dataclass(frozen=True, slots=True)
class Tick:
    """The session clock reached ``t`` (s) with no event from the source. The session makes
    these itself when a deadline (a breath's end) passes; they are recorded so that a replay
    moves on at exactly the points where the live session did."""

    t: float
    device: str = ""


@dataclass(frozen=True, slots=True)
class Marker:
    """Someone marked the moment ``t`` (s): a therapist's note ("grounding started"), a preset,
    or a line typed in the terminal. ``text`` may be empty (a bare mark)."""

    t: float
    text: str = ""
    device: str = ""


@dataclass(frozen=True, slots=True)
class PacerChange:
    """Someone changed the pace at ``t`` (s) (the window's pacer control): from the next breath
    on, ``rate_bpm`` breaths/min with ``inhale_ratio`` (inhale share of inhale + exhale; None:
    as before). Recorded and replayed in its place, as a :class:`Marker` is."""

    t: float
    rate_bpm: float
    inhale_ratio: float | None = None
    device: str = ""


Event = (Beat | HeartRate | Contact | Battery | Link | Notification | EcgSamples | AccSamples
         | Timing | Tick | Marker | PacerChange)
