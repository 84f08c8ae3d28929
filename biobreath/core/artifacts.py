"""RR-interval artifact detection and correction after Lipponen & Tarvainen (2019).

The method (the one Kubios automates) classifies each beat from two normalised series:

- ``dRR_i = RR_i - RR_{i-1}`` (the first set to the mean of the rest), divided by
  ``Th1 = alpha * QD(|dRR|)``, the quartile deviation ``(Q3 - Q1) / 2`` over a ``qd_window``-beat
  window;
- ``mRR_i = RR_i - medRR_i`` against a ``median_window``-beat rolling median, negative values
  multiplied by ``negative_mrr_weight``, divided by ``Th2`` computed like ``Th1`` from ``|mRR|``.

Decision per beat (normalised units; ``d`` is dRR/Th1, ``m`` is mRR/Th2):

1. ectopic: ``d > 1 and S12 < -c1 d - c2`` or ``d < -1 and S12 > -c1 d + c2``, where
   ``S12 = max(d_{i-1}, d_{i+1})`` if ``d > 0`` else their min;
2. long: ``d > 1 and S22 < -1``; short: ``d < -1 and S22 > 1``, where
   ``S22 = min(d_{i+1}, d_{i+2})`` if ``d >= 0`` else their max; failing both, long if
   ``m > mrr_limit`` and short if ``m < -mrr_limit``;
3. a long beat is a missed detection if ``|RR_i / 2 - medRR_i| < Th2``; a short one is an extra
   detection if ``|RR_i + RR_{i+1} - medRR_i| < Th2`` (ms). An extra beat at ``i`` merges
   ``RR_i`` and ``RR_{i+1}``, so beat ``i + 1`` gets no verdict of its own (it stays ``NONE``).

Every beat is tested on its own, the ``|mRR|`` test included (NeuroKit2 applies it only to beats
that pass the dRR test), so the paper's rule "if ``|dRR_{i+1}| < |dRR_{i+2}|`` test beat ``i + 1``
as well" holds by construction. Beats the method leaves normal but whose RR lies outside
physiological bounds are marked ``OUT_OF_RANGE``.

Choices of ours, not the paper's: thresholds have a floor (``min_threshold_ms``) so a constant or
coarsely quantised series cannot divide by zero; windows are truncated at the ends of the series;
a neighbour beyond either end counts as ``d = 0``; quantiles interpolate linearly (NumPy's and
pandas's default, so NeuroKit2's too). Interpolation is PCHIP on beat times rather than Kubios's
cubic spline: PCHIP stays between neighbouring values, so a run of artifacts cannot overshoot.

How it is computed (equal, bit for bit, to ``np.quantile`` over every window and to SciPy's
``PchipInterpolator``, without importing SciPy): the rolling quantiles sort each window of a
block of windows at once (:func:`_rolling_quantiles`), and the passes of :func:`correct` after
the first recompute only the windows whose contents the previous pass changed, copying the
others' quantiles (:func:`_reused_quantiles`).

One decision function, :func:`_classify`, serves both the offline :func:`detect` (centred windows)
and the live :class:`CausalDetector` (windows ending at the newest beat), so the two can only
differ by their windows.

Reference: Lipponen JA, Tarvainen MP (2019). A robust algorithm for heart rate variability time
series artefact correction using novel beat classification. J Med Eng Technol 43(3):173-181.
"""

from __future__ import annotations

import bisect
import enum
import math
from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from biobreath.core.spectrum import PiecewiseCubic


class ArtifactKind(enum.IntEnum):
    NONE = 0
    ECTOPIC = 1       # misplaced beat (premature or late): interpolated
    MISSED = 2        # undetected beat: the interval is split in two
    EXTRA = 3         # spurious detection: merged with the following interval
    LONG = 4          # too long, not explained by one missed beat: interpolated
    SHORT = 5         # too short, not explained by one extra beat: interpolated
    OUT_OF_RANGE = 6  # outside the physiological bounds only: interpolated


_N_KINDS = len(ArtifactKind)
_INTERPOLATED = (ArtifactKind.ECTOPIC, ArtifactKind.LONG, ArtifactKind.SHORT,
                 ArtifactKind.OUT_OF_RANGE)


@dataclass(frozen=True, slots=True)
class ArtifactParams:
    """Every constant of the method.

    - ``c1`` = 0.13, ``c2`` = 0.17: slope and offset of the ectopic decision boundary (paper).
    - ``alpha`` = 5.2: threshold = alpha x quartile deviation (paper).
    - ``qd_window`` = 91 beats: window of the quartile deviations (paper); odd.
    - ``median_window`` = 11 beats: rolling median medRR (paper); odd.
    - ``mrr_limit`` = 3.0: ``|mRR|/Th2`` beyond this makes a beat long or short (paper).
    - ``negative_mrr_weight`` = 2.0: factor on negative mRR, as short beats deviate less (paper).
    - ``min_threshold_ms`` = 5.0 ms: floor on Th1 and Th2 (ours; only binds when the series is
      nearly constant, e.g. heavy exercise or a quantised simulator).
    - ``bounds_ms`` = (273, 2000) ms: physiological range, 220 to 30 bpm.
    """

    c1: float = 0.13
    c2: float = 0.17
    alpha: float = 5.2
    qd_window: int = 91
    median_window: int = 11
    mrr_limit: float = 3.0
    negative_mrr_weight: float = 2.0
    min_threshold_ms: float = 5.0
    bounds_ms: tuple[float, float] = (273.0, 2000.0)

    def __post_init__(self) -> None:
        for name in ("qd_window", "median_window"):
            w = getattr(self, name)
            if w < 3 or w % 2 == 0:
                raise ValueError(f"{name} must be an odd number of beats >= 3, got {w}")
        if not (self.alpha > 0 and self.min_threshold_ms > 0 and self.mrr_limit > 0):
            raise ValueError("alpha, mrr_limit and min_threshold_ms must be positive")
        lo, hi = self.bounds_ms
        if not 0 <= lo < hi:
            raise ValueError(f"bounds_ms must satisfy 0 <= low < high, got {self.bounds_ms}")


@dataclass(frozen=True, slots=True, eq=False)
class Detection:
    """Per-beat verdicts (``kinds``, int8 values of :class:`ArtifactKind`, one per RR interval)."""

    kinds: np.ndarray
    params: ArtifactParams
    artifact_pct: float          # flagged beats / all beats x 100 (0 for an empty series)
    counts: tuple[int, ...]      # beats of each kind, indexed by ArtifactKind value

    @property
    def n_artifacts(self) -> int:
        return len(self.kinds) - self.counts[ArtifactKind.NONE]

    def count(self, kind: ArtifactKind) -> int:
        return self.counts[kind]


@dataclass(frozen=True, slots=True, eq=False)
class Correction:
    """Corrected NN intervals and where each came from.

    ``origin[k]`` is the index of the input interval output interval ``k`` derives from (a merged
    extra beat points at the first of its pair; both halves of a split missed beat point at it);
    ``kept[k]`` is True when output ``k`` is that input value, untouched. ``detection`` is the
    verdict on the input (its ``artifact_pct`` is the figure to report); ``residual`` the verdict
    on the output; ``iterations`` the correction passes applied.
    """

    rr_ms: np.ndarray
    origin: np.ndarray
    kept: np.ndarray
    detection: Detection
    residual: Detection
    iterations: int


def out_of_range(rr_ms: np.ndarray,
                 bounds_ms: tuple[float, float] = (273.0, 2000.0)) -> np.ndarray:
    """True where an RR interval (ms) lies outside ``[low, high]`` ms."""
    rr = np.asarray(rr_ms, dtype=float)
    lo, hi = bounds_ms
    return (rr < lo) | (rr > hi)


def _classify(d_prev: float, d: float, d_next: float, d_next2: float, m: float, rr: float,
              rr_next: float | None, med: float, th2: float, p: ArtifactParams) -> ArtifactKind:
    """The paper's decision tree for one beat (``d*`` in Th1 units, ``m`` in Th2 units, rest ms).

    ``rr_next`` is None for the last beat of a series (it cannot be an extra detection).
    """
    if abs(d) <= 1.0 and abs(m) <= p.mrr_limit:
        return ArtifactKind.NONE
    if d > 1.0 and max(d_prev, d_next) < -p.c1 * d - p.c2:
        return ArtifactKind.ECTOPIC
    if d < -1.0 and min(d_prev, d_next) > -p.c1 * d + p.c2:
        return ArtifactKind.ECTOPIC
    if d > 1.0 and min(d_next, d_next2) < -1.0:
        long = True
    elif d < -1.0 and max(d_next, d_next2) > 1.0:
        long = False
    elif abs(m) > p.mrr_limit:
        long = m > 0
    else:
        return ArtifactKind.NONE
    if long:
        return ArtifactKind.MISSED if abs(rr / 2.0 - med) < th2 else ArtifactKind.LONG
    if rr_next is not None and abs(rr + rr_next - med) < th2:
        return ArtifactKind.EXTRA
    return ArtifactKind.SHORT


_SORT_BLOCK = 1024
"""Windows sorted per NumPy call: a block's copy (1024 x 91 values) stays in the CPU cache."""


def _lerp(lower: np.ndarray, upper: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """NumPy's quantile interpolation between neighbouring order statistics, step for step
    (``numpy.lib._function_base_impl._lerp``), so results equal ``np.quantile``'s bit for bit."""
    diff = upper - lower
    return np.where(gamma >= 0.5, upper - diff * (1 - gamma), lower + diff * gamma)


def _order_ranks(size: int | np.ndarray, qs: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For windows of ``size`` values: the lower and upper order statistic (0-based) and the
    weight between them of each quantile ``qs``, as ``np.quantile``'s default "linear" method
    defines them (virtual index ``(size - 1) q``). Shapes broadcast ``size`` against ``qs``."""
    virtual = (np.asarray(size)[..., None] - 1) * qs
    lower = np.floor(virtual)
    gamma = virtual - lower
    lower = lower.astype(np.intp)
    upper = np.minimum(lower + 1, np.asarray(size)[..., None] - 1)
    return lower, upper, gamma


def _full_window_quantiles(x: np.ndarray, window: int, qs: np.ndarray,
                           starts: np.ndarray) -> np.ndarray:
    """Quantiles ``qs`` of the windows ``x[s:s + window]`` for each ``s`` in ``starts``;
    shape ``(len(qs), len(starts))``."""
    lower, upper, gamma = _order_ranks(window, qs)
    view = sliding_window_view(x, window)
    out = np.empty((qs.size, starts.size))
    contiguous = starts.size and starts[-1] - starts[0] == starts.size - 1
    for b in range(0, starts.size, _SORT_BLOCK):
        count = min(_SORT_BLOCK, starts.size - b)
        rows = (view[starts[b]:starts[b] + count] if contiguous
                else view[starts[b:b + count]])
        ordered = np.sort(rows, axis=1)
        out[:, b:b + count] = _lerp(ordered[:, lower].T, ordered[:, upper].T, gamma[:, None])
    return out


def _edge_quantiles(x: np.ndarray, window: int, qs: np.ndarray,
                    centres: np.ndarray) -> np.ndarray:
    """Quantiles ``qs`` of the windows centred on ``centres`` truncated at the ends of ``x``;
    shape ``(len(qs), len(centres))``."""
    n, half = x.size, window // 2
    first = np.maximum(centres - half, 0)
    size = np.minimum(centres + half + 1, n) - first
    cols = first[:, None] + np.arange(window)
    # Padding with +inf sorts after every value, so the first ``size`` sorted values are the window.
    rows = np.where(cols < (first + size)[:, None], x[np.minimum(cols, n - 1)], np.inf)
    ordered = np.sort(rows, axis=1)
    lower, upper, gamma = _order_ranks(size, qs)
    return _lerp(np.take_along_axis(ordered, lower, axis=1),
                 np.take_along_axis(ordered, upper, axis=1), gamma).T


def _rolling_quantiles(x: np.ndarray, window: int, qs: tuple[float, ...]) -> np.ndarray:
    """Quantiles ``qs`` of ``x`` over centred windows of ``window`` (odd) values, truncated at
    the ends; shape ``(len(qs), n)``, each equal to ``np.quantile`` of its window."""
    q = np.asarray(qs, dtype=np.float64)
    n, half = x.size, window // 2
    out = np.empty((q.size, n))
    if n >= window:
        out[:, half:n - half] = _full_window_quantiles(x, window, q, np.arange(n - window + 1))
        edges = np.concatenate((np.arange(half), np.arange(n - half, n)))
    else:
        edges = np.arange(n)
    if edges.size:
        out[:, edges] = _edge_quantiles(x, window, q, edges)
    return out


def _reused_quantiles(x: np.ndarray, window: int, qs: tuple[float, ...], previous: np.ndarray,
                      previous_q: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """:func:`_rolling_quantiles` of ``x``, copied from ``previous_q`` (the quantiles of the
    series ``previous``) wherever a window holds exactly the values of a window of ``previous``.

    ``origin[j]`` is the index in ``previous`` that ``x[j]`` comes from (see :class:`Correction`).
    A full window is reused when every ``x[j]`` in it equals ``previous[origin[j]]`` and
    ``origin`` runs on by one across it: the two windows then hold the same values, so their
    quantiles are the same numbers. After a correction pass only the windows around the changed
    beats differ, a small part of the series.
    """
    n, half = x.size, window // 2
    if n < window:
        return _rolling_quantiles(x, window, qs)
    q = np.asarray(qs, dtype=np.float64)
    # Window s spans beats s .. s+w-1: it is reused when none of their values changed and each
    # beat after the first follows the one before it in ``previous`` (no merge or split inside).
    changed_value = np.concatenate(([0], np.cumsum(x != previous[origin])))
    jump = np.ones(n, dtype=bool)
    jump[1:] = origin[1:] - origin[:-1] != 1
    jumps = np.concatenate(([0], np.cumsum(jump)))
    changed = ((changed_value[window:] != changed_value[:n - window + 1])
               | (jumps[window:] != jumps[1:n - window + 2]))
    out = previous_q[:, origin]
    redo = np.flatnonzero(changed)
    if redo.size:
        out[:, redo + half] = _full_window_quantiles(x, window, q, redo)
    edges = np.concatenate((np.arange(half), np.arange(n - half, n)))
    out[:, edges] = _edge_quantiles(x, window, q, edges)
    return out


def _threshold(values_abs_q: np.ndarray, p: ArtifactParams) -> np.ndarray:
    q1, q3 = values_abs_q
    return np.maximum(p.alpha * (q3 - q1) / 2.0, p.min_threshold_ms)


def _check_rr(rr_ms: np.ndarray) -> np.ndarray:
    rr = np.asarray(rr_ms, dtype=float)
    if rr.ndim != 1:
        raise ValueError(f"rr_ms must be one-dimensional, got shape {rr.shape}")
    if not np.all(np.isfinite(rr) & (rr > 0)):
        raise ValueError("rr_ms must be finite and positive (ms)")
    return rr


def _detection(kinds: np.ndarray, p: ArtifactParams) -> Detection:
    counts = np.bincount(kinds, minlength=_N_KINDS)
    n = kinds.size
    pct = 100.0 * (n - counts[0]) / n if n else 0.0
    return Detection(kinds, p, float(pct), tuple(int(c) for c in counts))


@dataclass(frozen=True, slots=True, eq=False)
class _Series:
    """The windowed series of one detection pass, kept so that the next pass can reuse them."""

    abs_drr: np.ndarray
    drr_q: np.ndarray      # Q1 and Q3 of |dRR| around each beat, shape (2, n)
    rr: np.ndarray
    med_q: np.ndarray      # rolling median RR, shape (1, n)
    abs_mrr: np.ndarray
    mrr_q: np.ndarray      # Q1 and Q3 of |mRR| around each beat, shape (2, n)


def detect(rr_ms: np.ndarray, params: ArtifactParams = ArtifactParams()) -> Detection:
    """Classify every RR interval (ms) of a recording, with centred windows (offline use)."""
    return _detect(_check_rr(rr_ms), params, None, None)[0]


def _detect(rr: np.ndarray, p: ArtifactParams, previous: _Series | None,
            origin: np.ndarray | None) -> tuple[Detection, _Series]:
    """:func:`detect` of ``rr``; given the previous pass's series and the origin of each beat in
    it, windows the previous pass already saw unchanged are not computed again."""
    n = rr.size
    drr = np.zeros(n)
    if n > 1:
        drr[1:] = np.diff(rr)
        drr[0] = drr[1:].mean()

    def quantiles(x: np.ndarray, window: int, qs: tuple[float, ...], values: str,
                  quantile: str) -> np.ndarray:
        """Rolling quantiles of ``x``, reusing the previous pass's (fields ``values`` and
        ``quantile`` of :class:`_Series`) where its windows are unchanged."""
        if previous is None or origin is None:
            return _rolling_quantiles(x, window, qs)
        return _reused_quantiles(x, window, qs, getattr(previous, values),
                                 getattr(previous, quantile), origin)

    abs_drr = np.abs(drr)
    drr_q = quantiles(abs_drr, p.qd_window, (0.25, 0.75), "abs_drr", "drr_q")
    d = drr / _threshold(drr_q, p)
    med_q = quantiles(rr, p.median_window, (0.5,), "rr", "med_q")
    med = med_q[0]
    mrr = rr - med
    mrr[mrr < 0] *= p.negative_mrr_weight
    abs_mrr = np.abs(mrr)
    mrr_q = quantiles(abs_mrr, p.qd_window, (0.25, 0.75), "abs_mrr", "mrr_q")
    th2 = _threshold(mrr_q, p)
    m = mrr / th2

    kinds = np.zeros(n, dtype=np.int8)
    # Only beats past either gate can be artifacts; the tree runs on those few (a few % of beats).
    candidates = np.flatnonzero((np.abs(d) > 1.0) | (np.abs(m) > p.mrr_limit))
    d_pad = np.concatenate(([0.0], d, [0.0, 0.0]))   # neighbours beyond the ends count as 0
    rr_pad = np.concatenate((rr, [np.nan]))
    # Python floats of the candidates only: converting whole arrays would cost more than the tree.
    rows = zip(candidates.tolist(), d_pad[candidates].tolist(), d_pad[candidates + 1].tolist(),
               d_pad[candidates + 2].tolist(), d_pad[candidates + 3].tolist(),
               m[candidates].tolist(), rr[candidates].tolist(), rr_pad[candidates + 1].tolist(),
               med[candidates].tolist(), th2[candidates].tolist())
    merged = np.zeros(n, dtype=bool)
    for i, d_prev, d_i, d_next, d_next2, m_i, rr_i, rr_next, med_i, th2_i in rows:
        if merged[i]:
            continue
        kind = _classify(d_prev, d_i, d_next, d_next2, m_i, rr_i, rr_next if i + 1 < n else None,
                         med_i, th2_i, p)
        kinds[i] = kind
        if kind == ArtifactKind.EXTRA:
            merged[i + 1] = True
    kinds[(kinds == ArtifactKind.NONE) & ~merged & out_of_range(rr, p.bounds_ms)] = (
        ArtifactKind.OUT_OF_RANGE)
    return _detection(kinds, p), _Series(abs_drr, drr_q, rr, med_q, abs_mrr, mrr_q)


def _pchip_edge_slope(h0: np.ndarray, h1: np.ndarray, m0: np.ndarray,
                      m1: np.ndarray) -> np.ndarray:
    """One-sided three-point end slope of PCHIP, kept shape-preserving (Moler, pchiptx.m)."""
    d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    flip = np.sign(d) != np.sign(m0)
    steep = (np.sign(m0) != np.sign(m1)) & (np.abs(d) > 3.0 * np.abs(m0))
    return np.where(flip, 0.0, np.where(steep, 3.0 * m0, d))


def _pchip_at(x: np.ndarray, y: np.ndarray, xq: np.ndarray) -> np.ndarray:
    """The PCHIP interpolant through ``(x, y)`` (Fritsch & Butland 1984) at ``xq``: SciPy's
    ``PchipInterpolator(x, y, extrapolate=False)(xq)`` bit for bit (the same slopes, the same
    arithmetic), NaN outside ``[x[0], x[-1]]``.

    Only the slopes of the knots bounding a queried interval are computed: a correction fills a
    few beats among thousands of good ones.
    """
    n = x.size
    k = np.clip(np.searchsorted(x, xq, side="right") - 1, 0, n - 2)
    knots = np.unique(np.concatenate((k, k + 1)))
    h = np.diff(x)
    m = np.diff(y) / h
    if n == 2:
        slopes = np.array([m[0], m[0]])
    else:
        j = np.clip(knots, 1, n - 2)           # interior formula at every knot, ends replaced below
        m0, m1, h0, h1 = m[j - 1], m[j], h[j - 1], h[j]
        flat = (np.sign(m1) != np.sign(m0)) | (m1 == 0) | (m0 == 0)
        w1 = 2 * h1 + h0
        w2 = h1 + 2 * h0
        with np.errstate(divide="ignore", invalid="ignore"):
            # Weighted harmonic mean of the neighbouring slopes; where it divides by zero the
            # slope is 0 anyway (``flat``).
            slopes = np.where(flat, 0.0, 1.0 / ((w1 / m0 + w2 / m1) / (w1 + w2)))
        slopes = np.where(knots == 0, _pchip_edge_slope(h[0], h[1], m[0], m[1]), slopes)
        slopes = np.where(knots == n - 1, _pchip_edge_slope(h[-1], h[-2], m[-1], m[-2]), slopes)
    # The interpolant on the bounding knots alone: no other knot lies inside a queried interval.
    return PiecewiseCubic(x[knots], y[knots], slopes)(xq, extrapolate=False)


@dataclass(frozen=True, slots=True, eq=False)
class Repair:
    """One correction pass: RR (ms) out, input index of each, and whether it is the input value."""

    rr_ms: np.ndarray
    origin: np.ndarray
    kept: np.ndarray


def apply_verdicts(rr_ms: np.ndarray, kinds: np.ndarray) -> Repair:
    """Correct RR intervals (ms) once, by given verdicts (from :func:`detect` or a live detector).

    Extra beats are merged with the next interval (which must carry no verdict of its own),
    missed beats split into two equal halves, and ectopic, long, short and out-of-range beats
    replaced by PCHIP interpolation of the remaining RR over beat times (the nearest remaining
    value beyond either end).
    """
    rr = _check_rr(rr_ms)
    kinds = np.asarray(kinds)
    n = rr.size
    if kinds.shape != rr.shape:
        raise ValueError(f"kinds has shape {kinds.shape}, rr_ms {rr.shape}")
    extra = np.flatnonzero(kinds == ArtifactKind.EXTRA)
    if extra.size and (extra[-1] == n - 1 or np.any(kinds[extra + 1] != ArtifactKind.NONE)):
        raise ValueError("an extra beat must be followed by a beat without a verdict")
    missed = kinds == ArtifactKind.MISSED
    interp = np.isin(kinds, _INTERPOLATED)
    values = rr.copy()
    values[extra] = rr[extra] + rr[extra + 1]
    values[missed] = rr[missed] / 2.0
    counts = np.ones(n, dtype=np.int64)
    counts[missed] = 2
    counts[extra + 1] = 0
    changed = interp | missed
    changed[extra] = True
    out = np.repeat(values, counts)
    origin = np.repeat(np.arange(n), counts)
    out_interp = interp[origin]
    if out_interp.any():
        # Interpolate on beat times; a flagged beat's own (wrong) time shifts its position by at
        # most its error, which is small against the spacing of the good beats around it.
        t = np.cumsum(out)
        good = ~out_interp
        if good.sum() >= 2:
            t_fill = t[out_interp]
            fill = _pchip_at(t[good], out[good], t_fill)
            fill = np.where(t_fill < t[good][0], out[good][0], fill)
            fill = np.where(t_fill > t[good][-1], out[good][-1], fill)
        else:
            fill = np.median(out[good]) if good.any() else np.median(out)
        out[out_interp] = fill
    return Repair(out, origin, ~changed[origin])


def correct(rr_ms: np.ndarray, params: ArtifactParams = ArtifactParams(), *,
            max_iterations: int = 5) -> Correction:
    """Detect and correct artifacts in RR intervals (ms), repeating while the count falls.

    Extra beats are merged with the next interval, missed beats split in two equal halves, and
    ectopic, long, short and out-of-range beats replaced by PCHIP interpolation over beat times.
    After each pass the output is classified again; another pass follows only if that found
    fewer artifacts than the pass before, up to ``max_iterations`` (default 5) passes.
    """
    rr = _check_rr(rr_ms)
    first, series = _detect(rr, params, None, None)
    current, origin, kept = rr, np.arange(rr.size), np.ones(rr.size, dtype=bool)
    verdict, iterations = first, 0
    while verdict.n_artifacts and iterations < max_iterations:
        step = apply_verdicts(current, verdict.kinds)
        current, origin, kept = step.rr_ms, origin[step.origin], kept[step.origin] & step.kept
        iterations += 1
        # The pass changed a few beats: windows away from them are copied from this pass.
        previous = verdict
        verdict, series = _detect(current, params, series, step.origin)
        if verdict.n_artifacts >= previous.n_artifacts:
            break
    return Correction(current, origin, kept, first, verdict, iterations)


class _SortedWindow:
    """The last ``size`` values, kept sorted for O(1) quantiles and O(size) updates."""

    __slots__ = ("_fifo", "_size", "_sorted")

    def __init__(self, size: int) -> None:
        self._fifo: deque[float] = deque()
        self._sorted: list[float] = []
        self._size = size

    def push(self, x: float) -> None:
        if len(self._fifo) == self._size:
            old = self._fifo.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, old)]
        self._fifo.append(x)
        bisect.insort(self._sorted, x)

    def quantile(self, q: float) -> float:
        """Linearly interpolated quantile, as NumPy's default; the window must not be empty."""
        s = self._sorted
        top = len(s) - 1
        pos = q * top
        lo = int(pos)
        hi = min(lo + 1, top)
        return s[lo] + (s[hi] - s[lo]) * (pos - lo)

    def __len__(self) -> int:
        return len(self._fifo)

    def clear(self) -> None:
        self._fifo.clear()
        self._sorted.clear()


class CausalDetector:
    """Live variant: each beat is judged once, two beats after it arrived.

    When beat ``k`` arrives, beat ``i = k - 2`` is judged with the same decision tree as
    :func:`detect`, its two following beats supplying S12, S22 and the extra-beat test. Windows
    end at the newest beat instead of being centred: Th1 from the last ``qd_window`` |dRR|, medRR
    from the last ``median_window`` RRs (beats ``i-8 .. i+2`` with the defaults), Th2 from the
    |mRR| of the last ``qd_window`` judged beats. All dRR values of one verdict are normalised by
    the current Th1. Work per push is O(window), independent of the length of the recording.

    ``warmup_beats`` (default 20): the first beats of a series are judged by ``bounds_ms`` alone,
    because quartiles of a handful of dRR values are too unstable: on 1000 clean synthetic series,
    judging from the start flagged 61 % of first beats, 3.4 % of tenth, 0.9 % of twentieth and
    about 0.2 % from the thirtieth on. Artifacts in the warm-up go unflagged (bar the bounds).
    """

    def __init__(self, params: ArtifactParams = ArtifactParams(), *,
                 warmup_beats: int = 20) -> None:
        self.params = params
        self.warmup_beats = warmup_beats
        self._abs_drr = _SortedWindow(params.qd_window)
        self._abs_mrr = _SortedWindow(params.qd_window)
        self._recent_rr = _SortedWindow(params.median_window)
        # The beat judged last and the (up to) three after it: RR (ms) and dRR (ms).
        self._rr: deque[float] = deque(maxlen=4)
        self._drr: deque[float] = deque(maxlen=4)
        self._count = 0                # beats pushed since construction (gives the indices)
        self._pending = 0              # beats pushed but not yet judged (0..2)
        self._judged = 0               # beats judged since the series started
        self._last_was_extra = False

    def push(self, rr_ms: float) -> list[tuple[int, ArtifactKind]]:
        """Add one RR interval (ms); return the verdicts that became possible (zero or one)."""
        rr = float(rr_ms)
        if not (math.isfinite(rr) and rr > 0):
            raise ValueError(f"rr_ms must be finite and positive, got {rr_ms!r}")
        drr = rr - self._rr[-1] if self._rr else 0.0
        if self._rr:
            self._abs_drr.push(abs(drr))
        self._rr.append(rr)
        self._drr.append(drr)
        self._recent_rr.push(rr)
        self._count += 1
        self._pending += 1
        if self._pending < 3:
            return []
        return [self._judge(following=2)]

    def flush(self) -> list[tuple[int, ArtifactKind]]:
        """Judge the beats still waiting as if the series ended there, then start afresh.

        Indices keep counting across a flush, so they stay unique for the detector's lifetime.
        """
        verdicts = []
        while self._pending:
            verdicts.append(self._judge(following=self._pending - 1))
        self._abs_drr.clear()
        self._abs_mrr.clear()
        self._recent_rr.clear()
        self._rr.clear()
        self._drr.clear()
        self._last_was_extra = False
        self._judged = 0
        return verdicts

    def _judge(self, following: int) -> tuple[int, ArtifactKind]:
        """Verdict for the oldest pending beat, which has ``following`` (0..2) beats after it."""
        p = self.params
        index = self._count - self._pending
        self._pending -= 1
        rr_hist, drr_hist = self._rr, self._drr
        j = len(rr_hist) - 1 - following      # position of the judged beat in the deques
        th1 = _quartile_threshold(self._abs_drr, p)
        held = len(drr_hist)
        d = [drr_hist[k] / th1 if 0 <= k < held else 0.0 for k in range(j - 1, j + 3)]
        rr = rr_hist[j]
        med = self._recent_rr.quantile(0.5)
        mrr = rr - med
        if mrr < 0:
            mrr *= p.negative_mrr_weight
        self._abs_mrr.push(abs(mrr))
        th2 = _quartile_threshold(self._abs_mrr, p)
        merged = self._last_was_extra
        warming_up = self._judged < self.warmup_beats
        self._judged += 1
        if merged or warming_up:
            kind = ArtifactKind.NONE
        else:
            kind = _classify(d[0], d[1], d[2], d[3], mrr / th2, rr,
                             rr_hist[j + 1] if following else None, med, th2, p)
        self._last_was_extra = kind == ArtifactKind.EXTRA
        lo, hi = p.bounds_ms
        if kind == ArtifactKind.NONE and not merged and not lo <= rr <= hi:
            kind = ArtifactKind.OUT_OF_RANGE
        return index, kind


def _quartile_threshold(window: _SortedWindow, p: ArtifactParams) -> float:
    """alpha x quartile deviation of a window, floored (the floor alone when it is empty)."""
    if not window._fifo:  # empty (not len(window): this runs twice a beat)
        return p.min_threshold_ms
    return max(p.alpha * (window.quantile(0.75) - window.quantile(0.25)) / 2.0, p.min_threshold_ms)
