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
  and notifications lost at ``dropout_rate``.

It is stateful across chunks and deterministic for a seed; the output does not depend on how the
simulation was cut into chunks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
class StrapNotification:
    """One Heart Rate Measurement notification as the computer receives it.

    ``arrival_s`` and ``sent_s`` are on the session clock (s). ``true_beat_times`` holds, for each
    RR in the payload, the time (s) at which the event that closed it really happened, before
    detection jitter: a normal beat, a premature beat's early time, a spurious detection's own
    time, or, for two RRs merged by a missed beat, the beat after the missed one.
    """

    arrival_s: float
    sent_s: float
    payload: bytes
    true_beat_times: tuple[float, ...]


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
    a Polar H10).
    """

    def __init__(self, params: SimParams = SimParams(), *, contact: bool | None = None) -> None:
        self.params = params
        self.contact = contact
        streams = np.random.SeedSequence(params.seed).spawn(2)[1].spawn(3)
        self._artifact_rng, self._jitter_rng, self._link_rng = map(np.random.default_rng, streams)
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
            drop_u, lat_u = self._link_rng.random(2)
            if drop_u < p.dropout_rate:
                self.notifications_dropped += 1
                self.rr_lost += lost + len(batch)
                continue
            self.rr_lost += lost
            recent = self._recent
            hr = round(60.0 * TICKS_PER_S * len(recent) / sum(recent)) if recent else 0
            rr = [r for _, r, _ in batch]
            payload = encode_heart_rate_measurement(hr, rr, contact=self.contact)
            latency = p.latency_min_s + lat_u * (p.latency_max_s - p.latency_min_s)
            # The link delivers in order: a notification never overtakes the one before it.
            arrival = float(max(sent + latency, self._last_arrival))
            self._last_arrival = arrival
            self.notifications_sent += 1
            out.append(StrapNotification(arrival, sent, payload, tuple(t for _, _, t in batch)))
        return out

    def _detect(self, beats: np.ndarray) -> None:
        """Turn true beats into the strap's detections and RRs, injecting artifacts."""
        nb = beats.size
        if nb == 0:
            return
        p = self.params
        u = self._artifact_rng.random((nb, 2))
        z = np.clip(self._jitter_rng.standard_normal((nb, 2)), -JITTER_CLIP_SD, JITTER_CLIP_SD)
        jit = z * self._jitter_s
        e_hi = p.ectopic_rate
        m_hi = e_hi + p.missed_rate
        x_hi = m_hi + p.extra_rate
        for i, b in enumerate(beats.tolist()):
            prev = self._last_true_beat
            self._last_true_beat = b
            if math.isnan(prev):
                self._observe(b, jit[i, 0])
                continue
            rr = b - prev
            kind = u[i, 0]
            if kind < e_hi:
                early = p.ectopic_prematurity + (2 * u[i, 1] - 1) * ECTOPIC_SPREAD
                self._observe(b - early * rr, jit[i, 0], "ectopic")
            elif kind < m_hi:
                self._missed = True
            elif kind < x_hi:
                split = EXTRA_SPLIT[0] + u[i, 1] * (EXTRA_SPLIT[1] - EXTRA_SPLIT[0])
                self._observe(prev + split * rr, jit[i, 1], "extra")
                self._observe(b, jit[i, 0])
            else:
                self._observe(b, jit[i, 0])

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
