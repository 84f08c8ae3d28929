"""R-peaks from single-lead chest ECG (Polar H10: 130 Hz, µV), and how they compare with RRs.

Detector (our own, in the Pan-Tompkins family; every parameter is an argument of
:func:`detect_r_peaks`):

1. **Energy envelope.** The ECG is band-passed to the QRS band (5-20 Hz, zero-phase Butterworth),
   differentiated, squared and averaged over ``integration_s`` (centred), so each QRS complex
   becomes one smooth hump whatever its polarity and shape, while P and T waves (slow) and the
   baseline wander of breathing (below 1 Hz) barely show.
2. **Adaptive threshold.** The typical QRS energy at each moment is the median, over
   ``level_window_s``, of the envelope's maxima in 0.5 s blocks taken 2 s at a time (every 2 s
   holds at least one beat above 30 bpm). A hump is a beat where it exceeds ``threshold`` times
   that level and is the highest within ``refractory_s``. The level follows changes of amplitude
   (posture, electrode contact) within a few seconds and ignores a single artefact.
3. **Fiducial point.** Each beat is placed at the extremum of the R wave: the maximum (minimum
   for an inverted lead, chosen by the majority of beats) of the ECG with its baseline removed
   (0.5 Hz zero-phase high-pass, which does not move a 10 ms wide peak), within ``search_s`` of
   the hump, refined between samples by the parabola through the extremum and its neighbours.

Samples are handled by index within runs of contiguous samples, and times come from the sample
times ``t`` themselves, so frames whose times were anchored slightly differently (see
:mod:`biobreath.straps.ble`) do not break a run; a jump of more than ``max_gap_s`` splits it.

:class:`RPeakStream` runs the same detector live over a bounded trailing window, and
:func:`compare_with_rr` matches ECG beats with the strap's own beat times.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import signal
from scipy.ndimage import maximum_filter1d, median_filter

_BLOCK_S = 0.5  # block of the envelope whose maximum feeds the beat level
_SPAN_S = 2.0   # span over which block maxima are pooled (holds a beat above 30 bpm)
_BASELINE_HZ = 0.5


@dataclass(frozen=True, slots=True, eq=False)
class RPeaks:
    """R-peaks found in an ECG.

    t: peak times (s, on the clock of the sample times given).
    amplitude_uv: height of each R wave above the baseline (µV, after polarity correction).
    strength: each beat's QRS energy over the detection threshold (>= 1; near 1 is a marginal
        beat, far above the others suggests an artefact).
    polarity: +1 when R waves point up, -1 when the lead is inverted (strap worn upside down).
    noise_uv: robust SD (1.4826 x median absolute deviation) of the QRS-band (5-20 Hz) ECG
        outside QRS complexes (µV): electrode and muscle noise; NaN without enough signal.
    """

    t: np.ndarray
    amplitude_uv: np.ndarray
    strength: np.ndarray
    polarity: int
    noise_uv: float

    def __len__(self) -> int:
        return int(self.t.size)

    @property
    def snr(self) -> float:
        """Median R amplitude over ``noise_uv``: tens for a worn strap, a few when the
        "peaks" are noise (electrodes off); NaN without peaks."""
        if not self.t.size or not self.noise_uv > 0:
            return math.nan
        return float(np.median(self.amplitude_uv) / self.noise_uv)


def _empty(polarity: int = 1, noise_uv: float = math.nan) -> RPeaks:
    return RPeaks(np.empty(0), np.empty(0), np.empty(0), polarity, noise_uv)


def _runs(t: np.ndarray, fs_hz: float, max_gap_s: float) -> list[tuple[int, int]]:
    """(start, stop) index ranges of contiguous samples: split where consecutive sample times
    differ from 1/fs by more than ``max_gap_s``."""
    dt = np.diff(t)
    cut = np.flatnonzero(np.abs(dt - 1.0 / fs_hz) > max_gap_s) + 1
    bounds = np.r_[0, cut, t.size]
    return [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]


def _beat_level(env: np.ndarray, fs_hz: float, level_window_s: float) -> np.ndarray:
    """Typical QRS energy around every sample (see the module docstring, step 2)."""
    block = max(1, round(_BLOCK_S * fs_hz))
    n_blocks = -(-env.size // block)
    padded = np.full(n_blocks * block, -np.inf)
    padded[:env.size] = env
    maxima = padded.reshape(n_blocks, block).max(axis=1)
    pooled = maximum_filter1d(maxima, size=max(1, round(_SPAN_S / _BLOCK_S)), mode="nearest")
    level = median_filter(pooled, size=max(1, round(level_window_s / _BLOCK_S)), mode="nearest")
    centres = (np.arange(n_blocks) + 0.5) * block
    return np.interp(np.arange(env.size), centres, level)


def _parabolic(y: np.ndarray, i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sub-sample position and height of the maxima at indices ``i`` of ``y`` (vertex of the
    parabola through each maximum and its neighbours; the index itself at the ends)."""
    inner = (i > 0) & (i < y.size - 1)
    j = np.clip(i, 1, y.size - 2)
    a, b, c = y[j - 1], y[j], y[j + 1]
    den = a - 2.0 * b + c
    shift = np.where(inner & (den < 0), 0.5 * (a - c) / np.where(den < 0, den, -1.0), 0.0)
    shift = np.clip(shift, -0.5, 0.5)
    height = np.where(inner, b - 0.25 * (a - c) * shift, y[i])
    return i + shift, height


def _detect_run(uv: np.ndarray, fs_hz: float, band_hz: tuple[float, float], integration_s: float,
                refractory_s: float, threshold: float, level_window_s: float, search_s: float,
                polarity: int | None):
    """Peaks of one contiguous run: (fractional indices, amplitudes µV, strengths, votes for
    an upright and an inverted lead, QRS-band signal outside QRS complexes)."""
    nyq = fs_hz / 2.0
    sos = signal.butter(2, [band_hz[0] / nyq, min(band_hz[1] / nyq, 0.99)], btype="band",
                        output="sos")
    qrs = signal.sosfiltfilt(sos, uv)
    width = max(1, round(integration_s * fs_hz))
    env = np.convolve(np.gradient(qrs) ** 2, np.ones(width) / width, mode="same")
    thr = threshold * _beat_level(env, fs_hz, level_window_s)
    idx, props = signal.find_peaks(env, height=thr, distance=max(1, round(refractory_s * fs_hz)))
    hp = signal.sosfiltfilt(signal.butter(1, _BASELINE_HZ / nyq, btype="high", output="sos"), uv)
    if idx.size == 0:
        return np.empty(0), np.empty(0), np.empty(0), 0, 0, qrs
    half = max(1, round(search_s * fs_hz))
    win = np.clip(idx[:, None] + np.arange(-half, half + 1)[None, :], 0, uv.size - 1)
    seg = hp[win]
    up = int(np.sum(seg.max(axis=1) >= -seg.min(axis=1)))
    sign = polarity if polarity is not None else (1 if up >= idx.size - up else -1)
    at = win[np.arange(idx.size), np.argmax(sign * seg, axis=1)]
    pos, height = _parabolic(sign * hp, at)
    outside = np.ones(uv.size, bool)
    outside[win.ravel()] = False
    strength = props["peak_heights"] / np.maximum(thr[idx], np.finfo(float).tiny)
    return pos, height, strength, up, idx.size - up, qrs[outside]


def detect_r_peaks(t: np.ndarray, uv: np.ndarray, fs_hz: float = 130.0, *,
                   band_hz: tuple[float, float] = (5.0, 20.0), integration_s: float = 0.1,
                   refractory_s: float = 0.25, threshold: float = 0.3,
                   level_window_s: float = 10.0, search_s: float = 0.06,
                   max_gap_s: float = 0.1, min_run_s: float = 2.0,
                   polarity: int | None = None) -> RPeaks:
    """R-peaks of a single-lead ECG; see the module docstring for the method.

    t: sample times (s), non-decreasing apart from small re-anchoring steps.
    uv: ECG samples (µV). fs_hz: nominal sample rate (130 Hz, the H10's).
    band_hz: QRS band of the energy envelope ((5, 20) Hz).
    integration_s: moving-average width of the squared derivative (0.1 s).
    refractory_s: shortest RR accepted (0.25 s, 240 bpm).
    threshold: share of the typical QRS energy a hump must exceed (0.3).
    level_window_s: span of the median that sets the typical QRS energy (10 s).
    search_s: half-width of the window around a hump searched for the R extremum (0.06 s).
    max_gap_s: largest deviation of a sample step from 1/fs before the run is split (0.1 s).
    min_run_s: runs shorter than this are skipped (2 s).
    polarity: +1 or -1 to force the R direction; None (default): each run decides by the
        majority of its beats (the returned polarity is the majority over all runs).
    """
    t = np.asarray(t, dtype=float)
    uv = np.asarray(uv, dtype=float)
    if t.shape != uv.shape or t.ndim != 1:
        raise ValueError("t and uv must be 1-D arrays of the same length")
    if polarity not in (None, 1, -1):
        raise ValueError("polarity must be None, 1 or -1")
    found = []
    up = down = 0
    noise_parts = []
    for a, b in _runs(t, fs_hz, max_gap_s):
        if (b - a) / fs_hz < min_run_s:
            continue
        pos, height, strength, u, d, quiet = _detect_run(
            uv[a:b], fs_hz, band_hz, integration_s, refractory_s, threshold, level_window_s,
            search_s, polarity)
        up, down = up + u, down + d
        noise_parts.append(quiet)
        found.append((np.interp(pos, np.arange(b - a), t[a:b]), height, strength))
    quiet = np.concatenate(noise_parts) if noise_parts else np.empty(0)
    noise = float(1.4826 * np.median(np.abs(quiet - np.median(quiet)))) if quiet.size else math.nan
    sign = polarity if polarity is not None else (1 if up >= down else -1)
    if not found:
        return _empty(sign, noise)
    return RPeaks(np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found]),
                  np.concatenate([f[2] for f in found]), sign, noise)


@dataclass(frozen=True, slots=True, eq=False)
class RrComparison:
    """Strap beat times matched one-to-one with ECG R-peaks.

    diff_ms: strap beat time minus R-peak time (ms) for each matched pair, in time order.
    beat_index, peak_index: the indices of the pairs in the two inputs.
    unmatched_beats, unmatched_peaks: how many of each found no partner within ``max_diff_s``.
    """

    diff_ms: np.ndarray
    beat_index: np.ndarray
    peak_index: np.ndarray
    unmatched_beats: int
    unmatched_peaks: int


def compare_with_rr(peak_t: np.ndarray, beat_t: np.ndarray, *,
                    max_diff_s: float = 0.15) -> RrComparison:
    """Match each strap beat (``beat_t``, s) with its nearest ECG R-peak (``peak_t``, s).

    A pair counts when they are at most ``max_diff_s`` (0.15 s, under half the shortest RR)
    apart and each is the other's nearest; both inputs must be sorted.
    """
    peak_t = np.asarray(peak_t, dtype=float)
    beat_t = np.asarray(beat_t, dtype=float)
    if peak_t.size == 0 or beat_t.size == 0:
        e = np.empty(0, dtype=int)
        return RrComparison(np.empty(0), e, e, int(beat_t.size), int(peak_t.size))
    j = _nearest(peak_t, beat_t)
    # Mutual nearest neighbours: the beat nearest the chosen peak must be this very beat.
    ok = (_nearest(beat_t, peak_t[j]) == np.arange(beat_t.size)) & (
        np.abs(peak_t[j] - beat_t) <= max_diff_s)
    bi, pi = np.flatnonzero(ok), j[ok]
    return RrComparison((beat_t[bi] - peak_t[pi]) * 1000.0, bi, pi,
                        int(beat_t.size - bi.size), int(peak_t.size - pi.size))


def _nearest(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Index of the element of sorted ``a`` nearest each ``x`` (the earlier one on a tie)."""
    if a.size == 1:
        return np.zeros(x.size, dtype=int)
    j = np.clip(np.searchsorted(a, x), 1, a.size - 1)
    return np.where(np.abs(a[j - 1] - x) <= np.abs(a[j] - x), j - 1, j)


class RPeakStream:
    """Live R-peak detection over ECG frames, with bounded memory.

    Each :meth:`push` appends one frame (``t0`` s, ``fs_hz``, µV samples) and reruns
    :func:`detect_r_peaks` over the last ``window_s`` (12 s) of samples; it returns the peaks
    that are now at least ``lookahead_s`` (0.5 s) older than the newest sample (so the zero-phase
    filters see both sides of them) and later than every peak returned before. A frame that does
    not continue the previous one within ``max_gap_s`` (0.1 s) starts afresh. ``params`` are
    passed on to :func:`detect_r_peaks`.
    """

    def __init__(self, *, window_s: float = 12.0, lookahead_s: float = 0.5,
                 max_gap_s: float = 0.1, **params) -> None:
        if window_s < 4 * lookahead_s:
            raise ValueError("window_s must be at least four times lookahead_s")
        self.window_s = window_s
        self.lookahead_s = lookahead_s
        self.max_gap_s = max_gap_s
        # A fresh run yields peaks once it holds enough for the filters on both sides of one.
        self.params = {"min_run_s": 4 * lookahead_s, **params, "max_gap_s": max_gap_s}
        self.refractory_s = self.params.get("refractory_s", 0.25)
        self.polarity = 1
        self.last_t = -math.inf  # the latest peak returned (s)
        self.reset()

    def reset(self) -> None:
        """Forget the buffered samples (``last_t`` stays, so no peak is returned twice)."""
        self._t = np.empty(0)
        self._uv = np.empty(0)
        self._fs = math.nan

    def push(self, t0: float, fs_hz: float, uv: np.ndarray) -> RPeaks:
        uv = np.asarray(uv, dtype=float)
        if self._t.size and abs(t0 - (self._t[-1] + 1.0 / self._fs)) > self.max_gap_s:
            self.reset()
        self._fs = fs_hz
        t = t0 + np.arange(uv.size) / fs_hz
        keep = self._t > t[-1] - self.window_s
        self._t = np.r_[self._t[keep], t]
        self._uv = np.r_[self._uv[keep], uv]
        found = detect_r_peaks(self._t, self._uv, fs_hz, **self.params)
        self.polarity = found.polarity
        new = ((found.t > self.last_t + self.refractory_s / 2)
               & (found.t <= self._t[-1] - self.lookahead_s)
               & (found.t >= self._t[0] + self.lookahead_s))
        out = RPeaks(found.t[new], found.amplitude_uv[new], found.strength[new], found.polarity,
                     found.noise_uv)
        if len(out):
            self.last_t = float(out.t[-1])
        return out
