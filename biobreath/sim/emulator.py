"""What a chest strap makes of a simulated person's heartbeats: RR bytes, once a second.

:class:`StrapEmulator` turns the true beats of :class:`biobreath.sim.physiology.SimChunk` into Heart
Rate Measurement (0x2A37) notifications, doing what a real strap and its radio link do:

* detection artifacts at the given rates: premature (ectopic) beats with a compensatory pause,
  missed beats (two RRs merged), spurious extra detections (one RR split), and detection-time
  jitter; every injected artifact is recorded in :attr:`StrapEmulator.injected`;
* RR intervals measured on the strap's own crystal, which runs ``clock_drift_ppm`` fast, from beat
  timestamps in 1/1024 s ticks (so rounding never accumulates);
* a notification every ``notify_interval_s`` of strap time carrying the RRs completed since the
  previous one (at most ``max_rr_per_notification``, oldest lost first), and a heart rate the strap
  computes from its last four RRs;
* Bluetooth latency, uniform between ``latency_min_s`` and ``latency_max_s`` and never reordering,
  and notifications lost at ``dropout_rate``;
* a delivery pattern on top, a :class:`LinkProfile` chosen by name from :data:`LINK_PROFILES`:
  ``ideal`` (the latency alone, the default), ``interval-30`` and ``interval-400`` (delivery only
  at Bluetooth connection events), ``stalls`` (event-loop stalls hold a notification back),
  ``extra-rr`` (a bogus short RR in every 20th notification, as Garmin straps send) and ``burst``
  (the whole delivery frozen for seconds about once a minute, as a busy UI or OS stack does).

It is stateful across chunks and deterministic for a seed; the output does not depend on how the
simulation was cut into chunks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from biobreath.events import TICKS_PER_S
from biobreath.sim.physiology import SimChunk, SimParams
from biobreath.straps.gatt import encode_heart_rate_measurement

ECTOPIC_SPREAD = 0.1
"""A premature beat comes early by ``ectopic_prematurity`` +/- this (uniform; fraction of RR)."""
EXTRA_SPLIT = (0.3, 0.7)
"""A spurious detection falls uniformly within this fraction range of the RR it splits."""
JITTER_CLIP_SD = 4.0
"""Detection jitter is clipped at this many SDs (bounds how late a notification is decided)."""
HR_AVERAGE_RR = 4
"""The strap's heart-rate field is 60 / mean of its last this-many RRs."""


@dataclass(frozen=True, slots=True)
class LinkProfile:
    """How the radio link and the receiving computer deliver a strap's notifications.

    Applied to each notification after the strap sent it (at ``sent_s``), in this order:

    1. the Bluetooth latency of :class:`SimParams` (uniform ``latency_min_s``-``latency_max_s``);
    2. ``interval_s`` > 0: the link delivers only at connection events, every ``interval_s`` (s)
       of the computer's clock, so the arrival is rounded up to the next multiple of
       ``interval_s``, plus a uniform 0-``event_jitter_s`` (s) for the host stack;
    3. ``stall_rate``: that fraction of notifications is held back a uniform ``stall_s`` (s)
       range longer (the receiving event loop stalled);
    4. ``freeze_gap_s`` > 0: delivery freezes for a uniform ``freeze_s`` (s) range, after a
       uniform ``freeze_gap_s`` (s) of normal delivery, again and again; everything sent during a
       freeze arrives at its end, at once;
    5. delivery stays in order: a notification held back holds back those behind it, which then
       arrive together with it.

    ``bogus_rr_every`` > 0: every this-many-th notification the strap sends carries one extra,
    bogus RR of a uniform ``bogus_rr_ticks`` (1/1024 s) range at a random place in its RR list,
    on top of the true ones (which still sum to the true beat-to-beat time), as Garmin straps do.
    """

    name: str
    description: str
    interval_s: float = 0.0
    event_jitter_s: float = 0.0
    stall_rate: float = 0.0
    stall_s: tuple[float, float] = (0.3, 1.0)
    freeze_gap_s: tuple[float, float] = (0.0, 0.0)
    freeze_s: tuple[float, float] = (2.0, 5.0)
    bogus_rr_every: int = 0
    bogus_rr_ticks: tuple[int, int] = (40, 60)

    def __post_init__(self) -> None:
        if self.interval_s < 0 or self.event_jitter_s < 0:
            raise ValueError("interval_s and event_jitter_s must be >= 0")
        if not 0.0 <= self.stall_rate <= 1.0:
            raise ValueError(f"stall_rate must be 0-1, got {self.stall_rate!r}")
        for name in ("stall_s", "freeze_gap_s", "freeze_s", "bogus_rr_ticks"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise ValueError(f"{name} must be a range 0 <= low <= high, got {(lo, hi)!r}")
        if self.freeze_gap_s[1] > 0 and self.freeze_gap_s[0] <= 0:
            raise ValueError("freeze_gap_s must be positive when freezes are on")
        if self.bogus_rr_every < 0:
            raise ValueError("bogus_rr_every must be >= 0")


LINK_PROFILES: Mapping[str, LinkProfile] = MappingProxyType({p.name: p for p in (
    LinkProfile("ideal", "Bluetooth latency alone (10-60 ms by default)"),
    LinkProfile("interval-30", "delivery at 30 ms connection events",
                interval_s=0.030, event_jitter_s=0.002),
    LinkProfile("interval-400", "delivery at 400 ms connection events (an H7 asks for 312-500 ms)",
                interval_s=0.400, event_jitter_s=0.005),
    LinkProfile("stalls", "2 % of notifications held 0.3-1 s by event-loop stalls",
                stall_rate=0.02, stall_s=(0.3, 1.0)),
    LinkProfile("extra-rr", "a bogus 40-60 tick RR in every 20th notification (Garmin)",
                bogus_rr_every=20, bogus_rr_ticks=(40, 60)),
    LinkProfile("burst", "delivery frozen 2-5 s about once a minute, then all at once",
                freeze_gap_s=(40.0, 80.0), freeze_s=(2.0, 5.0)),
)})
"""The named delivery patterns (``--sim-link NAME``); ``ideal`` is today's behaviour."""


def link_profile(name: str) -> LinkProfile:
    """The profile called ``name``; ValueError naming the known ones otherwise."""
    try:
        return LINK_PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown link profile {name!r}; known: "
                         + ", ".join(LINK_PROFILES)) from None


@dataclass(frozen=True, slots=True)
class StrapNotification:
    """One Heart Rate Measurement notification as the computer receives it.

    ``arrival_s`` and ``sent_s`` are on the session clock (s). ``true_beat_times`` holds, for each
    RR in the payload, the time (s) at which the event that closed it really happened, before
    detection jitter: a normal beat, a premature beat's early time, a spurious detection's own
    time, or, for two RRs merged by a missed beat, the beat after the missed one; NaN for a bogus
    RR of the ``extra-rr`` link profile, which closes no event. ``rr_lost_before``: RRs the strap
    measured since the previous delivered notification that never arrived (lost notifications,
    RRs beyond ``max_rr_per_notification``), so the chain of RRs breaks before this notification
    exactly when it is positive; ``dropped_before``: notifications lost since the previous one.
    """

    arrival_s: float
    sent_s: float
    payload: bytes
    true_beat_times: tuple[float, ...]
    rr_lost_before: int = 0
    dropped_before: int = 0


@dataclass(frozen=True, slots=True)
class InjectedArtifact:
    """An artifact the strap put into its observed RR sequence.

    ``index`` counts every RR the strap produced, from 0, including RRs later lost in transit.
    ``ectopic``: RR ``index`` is short (premature beat) and ``index + 1`` long (compensatory pause).
    ``extra``: RRs ``index`` and ``index + 1`` are the two parts of one split RR.
    ``missed``: RR ``index`` is two true RRs merged.
    ``t`` is the true time (s) of the event that closed RR ``index``.
    """

    kind: str
    index: int
    t: float


class StrapEmulator:
    """Chest-strap behaviour over a stream of :class:`SimChunk`; see the module docstring.

    ``contact``: the skin-contact bits the strap sends (None: it does not report contact, as
    a Polar H10). ``link``: the delivery pattern, a :class:`LinkProfile` or its name in
    :data:`LINK_PROFILES`.
    """

    def __init__(self, params: SimParams = SimParams(), *, contact: bool | None = None,
                 link: LinkProfile | str = "ideal") -> None:
        self.params = params
        self.contact = contact
        self.link = link_profile(link) if isinstance(link, str) else link
        # Streams 0-2 are those of the original emulator, so the ideal link reproduces it exactly;
        # the delivery pattern draws from streams of its own (spawned children do not depend on
        # how many are spawned).
        streams = np.random.SeedSequence(params.seed).spawn(2)[1].spawn(5)
        (self._artifact_rng, self._jitter_rng, self._link_rng, self._delivery_rng,
         self._freeze_rng) = map(np.random.default_rng, streams)
        self._freeze = (math.inf, math.inf)   # the current or next delivery freeze (s, s)
        if self.link.freeze_gap_s[1] > 0:
            start = float(self._freeze_rng.uniform(*self.link.freeze_gap_s))
            self._freeze = (start, start + float(self._freeze_rng.uniform(*self.link.freeze_s)))
        self._lost_since = 0                  # RRs lost since the last delivered notification
        self._dropped_since = 0               # notifications lost since then
        self._drift = 1.0 + params.clock_drift_ppm * 1e-6
        self._jitter_s = params.rr_noise_ms / 1000.0 / math.sqrt(2.0)
        # The strap was switched on at a random point of its timer and tick counter.
        self._timer_offset_s = float(self._link_rng.random()) * params.notify_interval_s
        self._tick_offset = float(self._link_rng.random())
        self._k = 1                           # number of the next notification
        self._last_true_beat = math.nan       # last true beat seen (s)
        self._last_detect = math.nan          # last detection (s, session clock)
        self._last_ticks: int | None = None   # strap tick count at the last detection
        self._pending: list[tuple[float, int, float]] = []  # (detection s, RR ticks, true time s)
        self._recent: list[int] = []          # the strap's last RRs (ticks) for its HR field
        self._last_arrival = -math.inf
        self._missed = False                  # the last true beat went undetected
        self.injected: list[InjectedArtifact] = []
        self.rr_produced = 0                  # RRs the strap measured (sent, lost or pending)
        self.notifications_sent = 0
        self.notifications_dropped = 0
        self.rr_lost = 0
        self.bogus_rr_sent = 0                # bogus RRs the extra-rr profile added

    @property
    def rr_pending(self) -> int:
        """RRs produced but not yet decided into a notification."""
        return len(self._pending)

    def encode(self, chunk: SimChunk) -> list[StrapNotification]:
        """Notifications (in arrival order) that the beats up to ``chunk`` let the strap decide.

        A notification is decided once no later true beat can produce a detection before its send
        time, so a notification is returned at most a beat or so after its send time.
        """
        self._detect(chunk.beat_times)
        out: list[StrapNotification] = []
        if math.isnan(self._last_true_beat):
            return out
        horizon = self._last_true_beat - JITTER_CLIP_SD * self._jitter_s
        p = self.params
        period = p.notify_interval_s / self._drift  # the strap's second, on the session clock
        while (sent := self._timer_offset_s + self._k * period) < horizon:
            self._k += 1
            n_take = 0
            while n_take < len(self._pending) and self._pending[n_take][0] <= sent:
                n_take += 1
            batch, self._pending = self._pending[:n_take], self._pending[n_take:]
            lost = max(0, len(batch) - p.max_rr_per_notification)
            batch = batch[lost:]
            self._recent = (self._recent + [r for _, r, _ in batch])[-HR_AVERAGE_RR:]
            drop_u, lat_u = self._link_rng.random(2).tolist()
            # Drawn for every notification, whatever the profile, so each draw stays tied to it.
            jitter_u, stall_u, hold_u, place_u, bogus_u = self._delivery_rng.random(5).tolist()
            if drop_u < p.dropout_rate:
                self.notifications_dropped += 1
                self.rr_lost += lost + len(batch)
                self._lost_since += lost + len(batch)
                self._dropped_since += 1
                continue
            self.rr_lost += lost
            recent = self._recent
            hr = round(60.0 * TICKS_PER_S * len(recent) / sum(recent)) if recent else 0
            rr = [r for _, r, _ in batch]
            truth = [t for _, _, t in batch]
            link = self.link
            if link.bogus_rr_every and (self._k - 1) % link.bogus_rr_every == 0:
                at = min(int(place_u * (len(rr) + 1)), len(rr))
                lo, hi = link.bogus_rr_ticks
                rr.insert(at, lo + min(int(bogus_u * (hi - lo + 1)), hi - lo))
                truth.insert(at, math.nan)
                self.bogus_rr_sent += 1
            payload = encode_heart_rate_measurement(hr, rr, contact=self.contact)
            latency = p.latency_min_s + lat_u * (p.latency_max_s - p.latency_min_s)
            arrival = self._deliver(sent + latency, jitter_u, stall_u, hold_u)
            self.notifications_sent += 1
            out.append(StrapNotification(arrival, sent, payload, tuple(truth),
                                         self._lost_since + lost, self._dropped_since))
            self._lost_since = self._dropped_since = 0
        return out

    def _deliver(self, t: float, jitter_u: float, stall_u: float, hold_u: float) -> float:
        """Arrival (s) of a notification that reached the link at ``t`` (s); see
        :class:`LinkProfile` for the steps."""
        link = self.link
        if link.interval_s > 0:
            t = math.ceil(t / link.interval_s) * link.interval_s + jitter_u * link.event_jitter_s
        if stall_u < link.stall_rate:
            t += link.stall_s[0] + hold_u * (link.stall_s[1] - link.stall_s[0])
        while t >= self._freeze[1]:  # freezes come one after another, in arrival order
            start = self._freeze[1] + float(self._freeze_rng.uniform(*link.freeze_gap_s))
            self._freeze = (start, start + float(self._freeze_rng.uniform(*link.freeze_s)))
        if t >= self._freeze[0]:
            t = self._freeze[1]
        # The link delivers in order: a notification never overtakes the one before it.
        t = float(max(t, self._last_arrival))
        self._last_arrival = t
        return t

    def _detect(self, beats: np.ndarray) -> None:
        """Turn true beats into the strap's detections and RRs, injecting artifacts."""
        nb = beats.size
        if nb == 0:
            return
        p = self.params
        # Python floats from here on: a beat at a time, NumPy scalars would cost more.
        u = self._artifact_rng.random((nb, 2)).tolist()
        z = np.clip(self._jitter_rng.standard_normal((nb, 2)), -JITTER_CLIP_SD, JITTER_CLIP_SD)
        jit = (z * self._jitter_s).tolist()
        e_hi = p.ectopic_rate
        m_hi = e_hi + p.missed_rate
        x_hi = m_hi + p.extra_rate
        for b, (kind, frac), (jit_beat, jit_extra) in zip(beats.tolist(), u, jit):
            prev = self._last_true_beat
            self._last_true_beat = b
            if math.isnan(prev):
                self._observe(b, jit_beat)
                continue
            rr = b - prev
            if kind < e_hi:
                early = p.ectopic_prematurity + (2 * frac - 1) * ECTOPIC_SPREAD
                self._observe(b - early * rr, jit_beat, "ectopic")
            elif kind < m_hi:
                self._missed = True
            elif kind < x_hi:
                split = EXTRA_SPLIT[0] + frac * (EXTRA_SPLIT[1] - EXTRA_SPLIT[0])
                self._observe(prev + split * rr, jit_extra, "extra")
                self._observe(b, jit_beat)
            else:
                self._observe(b, jit_beat)

    def _observe(self, t_true: float, jitter_s: float, kind: str | None = None) -> None:
        """Record one detection of an event that happened at ``t_true`` (s)."""
        if self._missed:
            self._missed = False
            if self._last_ticks is not None:
                self.injected.append(InjectedArtifact("missed", self.rr_produced, t_true))
        # Detections stay in order even when jitter is large against a short RR.
        detect = t_true + jitter_s
        if not math.isnan(self._last_detect):
            detect = max(detect, self._last_detect + 1.0 / TICKS_PER_S)
        self._last_detect = detect
        ticks = math.floor(detect * self._drift * TICKS_PER_S + self._tick_offset)
        if self._last_ticks is not None:
            if kind is not None:
                self.injected.append(InjectedArtifact(kind, self.rr_produced, t_true))
            self._pending.append((detect, min(ticks - self._last_ticks, 0xFFFF), t_true))
            self.rr_produced += 1
        self._last_ticks = ticks
