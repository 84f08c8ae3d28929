"""Breathing from the chest accelerometer, and how closely it follows the pacer.

A chest strap tilts and moves with the rib cage, so its accelerometer (mG, 3 axes) shows each
breath as a slow oscillation of a few tens of mG on top of gravity. The method:

* **Breathing signal** (:func:`breathing_signal`): the mean (gravity and posture) is removed,
  each axis is band-passed to the breathing band (0.05-0.7 Hz, 3-42 breaths/min; zero-phase
  Butterworth), and the three axes are projected on their first principal axis, the direction
  in which the chest moves most. Its share of the band's variance (``axis_share``) tells how
  one-dimensional the movement was: near 1 for quiet breathing, lower when the body moves.
* **Sign.** A principal axis has no sign of its own, and which way the chest tilts on inhale
  depends on the strap's place and the posture. Two rules, in order: (1) heart rate rises on
  inhale and falls on exhale (respiratory sinus arrhythmia), and at slow breathing (at most
  9 breaths/min) it swings nearly in phase with lung volume (zero phase at the resonance rate,
  the premise of resonance breathing), while at faster breathing it lags by up to and beyond a
  quarter breath. So when heart beats are given, slow breathing is taken as evidence: the sign
  that makes the signal correlate positively with heart rate wins once the evidence is clear
  (:class:`RespirationTracker`); (2) until then, the convention is that the signal
  rises when the acceleration along the resting (gravity) direction falls, as on the virtual
  strap. Successive windows keep the axis sign of the previous one, so the signal never flips
  by itself.
* **Rate**: the highest peak of the signal's spectrum in the breathing band (breaths/min).
* **Phase**: from the analytic signal (Hilbert transform), as a fraction of a breath with 0 at
  the start of an inhale (the volume trough) and 0.5 at full lungs, as the pacer counts it.
* **Following score** (:func:`following_score`): the Pearson correlation, at zero lag, between
  the measured breathing and the pacer's volume curve passed through the same band-pass, over
  the trailing window (60 s), as ``score = 100 x max(0, r)``. 100 means the breathing is a
  scaled copy of the pacer in time; breathing at another rate scores near 0, and so does
  breathing in antiphase (r near -1). Timing errors cost as the cosine of the phase error (a
  breath a quarter period late scores 0), so the score rewards breathing *with* the pacer, not
  merely at its rate; the cross-correlation peak within ``max_lag_s`` is reported as well (its
  lag: how late the breathing is; its value: how well the shape follows whatever the timing).

Estimates near the newest samples are less certain than inside the window (the filters see only
one side there); the score averages over the whole window and is little affected.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

BREATH_BAND_HZ = (0.05, 0.7)


@dataclass(frozen=True, slots=True, eq=False)
class BreathingSignal:
    """The breathing component of a stretch of chest acceleration.

    value: breathing signal (mG along ``axis``, band-passed, positive per the sign rules).
    axis: unit vector of the principal axis in the sensor's x, y, z.
    axis_share: share (0-1) of the band-passed variance along ``axis``.
    gravity: unit vector of the mean acceleration (the resting direction).
    """

    value: np.ndarray
    axis: np.ndarray
    axis_share: float
    gravity: np.ndarray


def _band(fs_hz: float, band_hz: tuple[float, float]) -> np.ndarray:
    from scipy import signal  # loaded when breathing is measured
    nyq = fs_hz / 2.0
    return signal.butter(2, [band_hz[0] / nyq, min(band_hz[1] / nyq, 0.99)], btype="band",
                         output="sos")


def bandpass(x: np.ndarray, fs_hz: float,
             band_hz: tuple[float, float] = BREATH_BAND_HZ) -> np.ndarray:
    """``x`` (along axis 0) through the breathing band-pass, zero-phase, mean removed first."""
    from scipy import signal  # loaded when breathing is measured
    x = np.asarray(x, dtype=float)
    return signal.sosfiltfilt(_band(fs_hz, band_hz), x - x.mean(axis=0), axis=0)


def breathing_signal(mg: np.ndarray, fs_hz: float, *,
                     band_hz: tuple[float, float] = BREATH_BAND_HZ,
                     reference_axis: np.ndarray | None = None) -> BreathingSignal:
    """The breathing signal of evenly sampled acceleration ``mg`` (n, 3) in mG at ``fs_hz``.

    band_hz: breathing band ((0.05, 0.7) Hz). reference_axis: the previous window's axis, whose
    sign the new axis keeps; None applies the gravity convention (module docstring).
    """
    mg = np.asarray(mg, dtype=float)
    if mg.ndim != 2 or mg.shape[1] != 3:
        raise ValueError("mg must have shape (n, 3)")
    mean = mg.mean(axis=0)
    gravity = mean / (np.linalg.norm(mean) or 1.0)
    bp = bandpass(mg, fs_hz, band_hz)
    w, v = np.linalg.eigh(bp.T @ bp)
    axis = v[:, -1]
    if reference_axis is not None:
        flip = float(axis @ reference_axis) < 0
    else:
        flip = float(axis @ gravity) > 0
    axis = -axis if flip else axis
    share = float(w[-1] / w.sum()) if w.sum() > 0 else math.nan
    return BreathingSignal(bp @ axis, axis, share, gravity)


def breathing_rate(x: np.ndarray, fs_hz: float, *,
                   band_hz: tuple[float, float] = BREATH_BAND_HZ,
                   resolution_bpm: float = 0.1) -> float:
    """Breaths/min at the highest spectral peak of ``x`` within ``band_hz`` (Hann window,
    zero-padded so bins are at most ``resolution_bpm`` (0.1) apart); NaN for a flat signal."""
    x = np.asarray(x, dtype=float)
    nfft = 1 << max(int(x.size - 1).bit_length(),
                    math.ceil(math.log2(fs_hz * 60.0 / resolution_bpm)))
    power = np.abs(np.fft.rfft((x - x.mean()) * np.hanning(x.size), nfft)) ** 2
    f = np.fft.rfftfreq(nfft, 1.0 / fs_hz)
    band = (f >= band_hz[0]) & (f <= band_hz[1])
    if not band.any() or not power[band].max() > 0:
        return math.nan
    return float(f[band][np.argmax(power[band])] * 60.0)


def breathing_phase(x: np.ndarray) -> np.ndarray:
    """Phase of a band-passed breathing signal in breaths (0-1): 0 at the start of an inhale
    (trough), 0.5 at full lungs (peak)."""
    from scipy import signal  # loaded when breathing is measured
    analytic = signal.hilbert(np.asarray(x, dtype=float))
    # The analytic signal of -cos(2 pi p) (a volume curve at phase p) has angle 2 pi p + pi.
    return np.mod(np.angle(analytic) / (2.0 * np.pi) + 0.5, 1.0)


@dataclass(frozen=True, slots=True)
class Following:
    """How closely measured breathing follows the pacer over ``window_s`` (s).

    score: 0-100, ``100 x max(0, r)``.
    r: correlation (-1 to 1) at zero lag between breathing and the pacer's volume, both
        band-passed.
    lag_s: how late the breathing is at the cross-correlation peak within ``max_lag_s``
        (s; negative: ahead of the pacer).
    r_at_lag: the correlation at that lag.
    """

    score: float
    r: float
    lag_s: float
    r_at_lag: float
    window_s: float


def following_score(breath: np.ndarray, pacer_volume: np.ndarray, fs_hz: float, *,
                    band_hz: tuple[float, float] = BREATH_BAND_HZ, max_lag_s: float = 5.0,
                    min_s: float = 20.0) -> Following | None:
    """How closely the band-passed ``breath`` follows the pacer's ``pacer_volume`` (0-1, NaN
    where the pacer lets the person breathe freely), both on one grid at ``fs_hz``.

    Only the trailing stretch where the pacer paces is used; None when it is shorter than
    ``min_s`` (20 s), or either signal is flat. ``max_lag_s`` (5 s) bounds the lag search.
    """
    from scipy import signal  # loaded when breathing is measured
    breath = np.asarray(breath, dtype=float)
    vol = np.asarray(pacer_volume, dtype=float)
    if breath.shape != vol.shape:
        raise ValueError("breath and pacer_volume must have the same shape")
    free = np.flatnonzero(~np.isfinite(vol))
    start = int(free[-1]) + 1 if free.size else 0
    n = breath.size - start
    if n < min_s * fs_hz:
        return None
    b = breath[start:] - breath[start:].mean()
    p = bandpass(vol[start:], fs_hz, band_hz)
    norm = math.sqrt(float(b @ b) * float(p @ p))
    if not norm > 0:
        return None
    r = float(b @ p) / norm
    m = min(round(max_lag_s * fs_hz), n - 1)
    xc = signal.correlate(b, p, mode="full", method="fft")[n - 1 - m:n + m] / norm
    k = int(np.argmax(xc))
    return Following(100.0 * max(0.0, r), r, (k - m) / fs_hz, float(xc[k]), n / fs_hz)


@dataclass(frozen=True, slots=True, eq=False)
class BreathingEstimate:
    """The tracker's view of the breathing at ``t`` (s, the newest sample).

    rate_bpm: breaths/min. phase: breaths (0-1) at ``t``, 0 = start of an inhale.
    amplitude_mg: typical peak-to-trough swing of the breathing signal (2 sqrt 2 x its SD, mG).
    axis_share: see :class:`BreathingSignal`. following: against the pacer (None without one,
    while it lets the person breathe freely, or before ``min_s`` of pacing).
    oriented: whether heart rate has set the sign (True) or the gravity convention still holds.
    trace_t, trace: the breathing signal over the window (s; scaled so its 5th and 95th
    percentiles are 0 and 1, to overlay the pacer's volume curve).
    """

    t: float
    rate_bpm: float
    phase: float
    amplitude_mg: float
    axis_share: float
    following: Following | None
    oriented: bool
    trace_t: np.ndarray
    trace: np.ndarray


class RespirationTracker:
    """Live breathing from accelerometer frames, in bounded memory (the last ``window_s``).

    pacer_volume: the pacer's volume curve as a function of session time (vectorised, 0-1, NaN
    while breathing is free), e.g. ``Pacer.volume``; None: no following score.
    window_s: trailing window of every estimate (60 s). min_s: no estimate before this much
    signal (20 s). max_gap_s: a frame that does not continue the previous one within this
    (1 s) restarts the window. band_hz: breathing band ((0.05, 0.7) Hz).
    orient_tau_s: time constant (s) over which heart-rate evidence about the sign accumulates
    (120 s). orient_min: the accumulated correlation that settles the sign (0.15).
    orient_max_bpm: heart rate counts as evidence only while breathing is at most this slow
    (9 breaths/min). min_beats: beats the window must hold to count (20).
    """

    def __init__(self, pacer_volume: Callable[[np.ndarray], np.ndarray] | None = None, *,
                 window_s: float = 60.0, min_s: float = 20.0, max_gap_s: float = 1.0,
                 band_hz: tuple[float, float] = BREATH_BAND_HZ, orient_tau_s: float = 120.0,
                 orient_min: float = 0.15, orient_max_bpm: float = 9.0,
                 min_beats: int = 20) -> None:
        if min_s > window_s:
            raise ValueError("min_s must not exceed window_s")
        self.pacer_volume = pacer_volume
        self.window_s = window_s
        self.min_s = min_s
        self.max_gap_s = max_gap_s
        self.band_hz = band_hz
        self.orient_tau_s = orient_tau_s
        self.orient_min = orient_min
        self.orient_max_bpm = orient_max_bpm
        self.min_beats = min_beats
        self.evidence = 0.0  # smoothed correlation of the convention-signed signal with HR
        self.sign = 1        # applied on top of the convention once the evidence settles it
        self.oriented = False
        self._axis: np.ndarray | None = None
        self._evidence_t = math.nan
        self._beat_t = np.empty(0)
        self._beat_rr = np.empty(0)
        self._t = np.empty(0)
        self._mg = np.empty((0, 3))
        self._fs = math.nan

    def push_beats(self, t: np.ndarray, rr_ms: np.ndarray) -> None:
        """Heart beats (times s, RR ms; artefacts left out) that may settle the sign."""
        self._beat_t = np.r_[self._beat_t, np.asarray(t, dtype=float)]
        self._beat_rr = np.r_[self._beat_rr, np.asarray(rr_ms, dtype=float)]
        if self._beat_t.size:
            keep = self._beat_t > self._beat_t[-1] - self.window_s
            self._beat_t, self._beat_rr = self._beat_t[keep], self._beat_rr[keep]

    def push(self, t0: float, fs_hz: float, mg: np.ndarray) -> BreathingEstimate | None:
        """Add one frame (first sample at ``t0`` s, ``fs_hz``, (n, 3) mG); the estimate over
        the window now, or None before ``min_s`` of signal."""
        mg = np.asarray(mg, dtype=float).reshape(-1, 3)
        if self._t.size and abs(t0 - (self._t[-1] + 1.0 / self._fs)) > self.max_gap_s:
            self._t, self._mg = np.empty(0), np.empty((0, 3))
        self._fs = fs_hz
        t = t0 + np.arange(mg.shape[0]) / fs_hz
        keep = self._t > t[-1] - self.window_s
        self._t = np.r_[self._t[keep], t]
        self._mg = np.r_[self._mg[keep], mg]
        if self._t[-1] - self._t[0] < self.min_s:
            return None
        return self._estimate()

    def _estimate(self) -> BreathingEstimate:
        fs, t = self._fs, self._t
        sig = breathing_signal(self._mg, fs, band_hz=self.band_hz, reference_axis=self._axis)
        self._axis = sig.axis
        rate = breathing_rate(sig.value, fs, band_hz=self.band_hz)
        if rate <= self.orient_max_bpm:
            self._update_sign(sig.value)
        x = self.sign * sig.value
        following = None
        if self.pacer_volume is not None:
            following = following_score(x, np.asarray(self.pacer_volume(t), dtype=float), fs,
                                        band_hz=self.band_hz, min_s=self.min_s)
        lo, hi = np.percentile(x, [5.0, 95.0])
        return BreathingEstimate(
            t=float(t[-1]), rate_bpm=rate,
            phase=float(breathing_phase(x)[-1]), amplitude_mg=float(2.0 * math.sqrt(2.0) * x.std()),
            axis_share=sig.axis_share, following=following, oriented=self.oriented,
            trace_t=t.copy(), trace=(x - lo) / (hi - lo) if hi > lo else np.full(x.size, 0.5))

    def _update_sign(self, raw: np.ndarray) -> None:
        """Fold the correlation of heart rate with the convention-signed breathing into the
        evidence, and settle the sign once the evidence is clear."""
        t = self._t
        inside = (self._beat_t >= t[0]) & (self._beat_t <= t[-1])
        if np.count_nonzero(inside) < self.min_beats:
            return
        bt, rr = self._beat_t[inside], self._beat_rr[inside]
        span = (t >= bt[0]) & (t <= bt[-1])
        if np.count_nonzero(span) < self.min_s * self._fs:
            return
        hr = bandpass(np.interp(t[span], bt, 60000.0 / rr), self._fs, self.band_hz)
        b = raw[span] - raw[span].mean()
        norm = math.sqrt(float(b @ b) * float(hr @ hr))
        if not norm > 0:
            return
        r = float(b @ hr) / norm
        now = float(t[-1])
        # The first evidence counts for the time it spans, later ones for the time since.
        dt = now - self._evidence_t if math.isfinite(self._evidence_t) else \
            float(t[span][-1] - t[span][0])
        self._evidence_t = now
        self.evidence += (1.0 - math.exp(-max(dt, 0.0) / self.orient_tau_s)) * (r - self.evidence)
        if abs(self.evidence) >= self.orient_min:
            self.sign = 1 if self.evidence > 0 else -1
            self.oriented = True
