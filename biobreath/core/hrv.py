"""Offline HRV analysis of NN intervals: time domain, frequency domain, nonlinear.

Pure functions on NumPy arrays of NN intervals in milliseconds (RR intervals after artifact
handling). The time axis is the cumulative sum of the intervals: interval ``i`` ends at
``sum(rr[:i + 1])``. Every method parameter is an explicit keyword whose default follows Kubios
HRV, and every result carries the parameters that produced it.

A metric that needs more beats (or a longer record) than it was given is NaN, and the result's
``notes`` say why; the others are still computed. Non-finite, zero or negative intervals raise
:class:`ValueError`.

Conventions (checked against Kubios HRV 2.2's figures for systole's ``rr.txt``, see
``tests/data/README.md``):

* Mean HR is the mean of the instantaneous heart rates ``60000 / RR``; min/max HR are the
  extremes of that heart rate averaged over ``hr_average_beats`` consecutive beats: a 5-beat
  moving average is Kubios's convention as we know it from its user guide, which we could not
  re-check against a stored copy.
* SDNN and SDSD use ddof = 1; RMSSD is ``sqrt(mean(diff**2))``; pNN50 divides NN50 by the number
  of successive differences (N - 1); the triangular index bins RR at 1/128 s.
* SD1 and SD2 are the sample standard deviations (ddof = 1) of the Poincaré plot rotated by 45
  degrees, over its N - 1 points ``(RR_i, RR_i+1)``; that reproduces Kubios's SD2, while
  ``sqrt(2 SDNN^2 - SD1^2)`` (over N beats) is 0.03 % lower.
* Spectra (computed by :mod:`biobreath.core.spectrum`): the tachogram is resampled on an even
  grid by a not-a-knot cubic spline, detrended, its mean removed; Welch uses Hann windows, each
  segment with its own mean removed (``welch_segment_detrend="constant"``, as
  ``scipy.signal.welch`` does by default): on a record longer than one segment, removing only the
  overall mean leaves each segment's offset from it in the 0 Hz bin, which is then counted as VLF
  (9-12 % of VLF on 12- and 60-minute records, VLF 11-17 % above its peers); a record of one
  segment (up to 256 s, the case of Kubios's figures above) is unchanged. Band powers are the
  PSD summed over the band's bins (``lo <= f < hi``) times the bin width; total power is
  VLF + LF + HF, so normalised units ``LF / (total - VLF)`` equal ``LF / (LF + HF)``.
* Sample entropy is counted exactly (every pair of templates, no sampling), by histograms of the
  quantised values or by sorting and bit masks, rather than a tree: see :func:`_template_matches`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from biobreath.core import spectrum
from biobreath.core.spectrum import Detrend, SegmentDetrend

Band = tuple[float, float]
SpectrumMethod = Literal["welch", "lomb", "ar"]

_METHODS = ("welch", "lomb", "ar")
_AR_OVERSAMPLE = 16
"""An AR spectrum's peaks can be far narrower than 1 / points_per_hz: it is evaluated this many
times more finely, so that summing it over a band converges to the band's power."""
_NAN = float("nan")


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True, slots=True)
class TimeDomainParameters:
    """Settings of :func:`time_domain`.

    ``hr_average_beats``: beats averaged before taking min/max HR (Kubios: 5).
    ``histogram_bin_ms``: RR histogram bin for the triangular index (1/128 s = 7.8125 ms).
    """

    hr_average_beats: int = 5
    histogram_bin_ms: float = 1000.0 / 128.0


@dataclass(frozen=True, slots=True)
class FrequencyDomainParameters:
    """Settings of :func:`frequency_domain`; see its docstring for each one."""

    method: SpectrumMethod = "welch"
    detrend: Detrend = "none"
    smoothness_lambda: float = 500.0
    resample_hz: float = 4.0
    welch_window_s: float = 256.0
    welch_overlap: float = 0.5
    welch_segment_detrend: SegmentDetrend = "constant"
    points_per_hz: int = 256
    ar_order: int = 16
    vlf: Band = (0.0, 0.04)
    lf: Band = (0.04, 0.15)
    hf: Band = (0.15, 0.4)
    min_band_cycles: float = 2.0


@dataclass(frozen=True, slots=True)
class NonlinearParameters:
    """Settings of :func:`nonlinear`.

    ``dfa_short`` / ``dfa_long``: box sizes (beats, inclusive) fitted for DFA alpha1 / alpha2.
    ``sampen_m``: template length; ``sampen_r``: tolerance as a fraction of SDNN.
    """

    dfa_short: tuple[int, int] = (4, 16)
    dfa_long: tuple[int, int] = (16, 64)
    sampen_m: int = 2
    sampen_r: float = 0.2


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class TimeDomain:
    """Time-domain HRV (ms, bpm, counts, %)."""

    mean_rr_ms: float
    mean_hr_bpm: float
    min_hr_bpm: float
    max_hr_bpm: float
    sdnn_ms: float
    rmssd_ms: float
    sdsd_ms: float
    nn50: int
    pnn50_pct: float
    hrv_triangular_index: float
    parameters: TimeDomainParameters
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FrequencyDomain:
    """Frequency-domain HRV: band powers (ms²), shares (%), normalised units, peaks (Hz).

    ``freq_hz`` and ``psd_ms2_hz`` hold the one-sided spectrum the figures came from (empty when
    it could not be computed); they are read-only and excluded from comparisons.
    """

    vlf_ms2: float
    lf_ms2: float
    hf_ms2: float
    total_power_ms2: float
    vlf_pct: float
    lf_pct: float
    hf_pct: float
    lf_nu: float
    hf_nu: float
    lf_hf: float
    vlf_peak_hz: float
    lf_peak_hz: float
    hf_peak_hz: float
    parameters: FrequencyDomainParameters
    notes: tuple[str, ...] = ()
    freq_hz: np.ndarray = field(default_factory=lambda: np.empty(0), compare=False, repr=False)
    psd_ms2_hz: np.ndarray = field(default_factory=lambda: np.empty(0), compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Nonlinear:
    """Nonlinear HRV: Poincaré SD1/SD2 (ms), DFA alpha1/alpha2, sample entropy."""

    sd1_ms: float
    sd2_ms: float
    sd2_sd1: float
    dfa_alpha1: float
    dfa_alpha2: float
    sampen: float
    parameters: NonlinearParameters
    notes: tuple[str, ...] = ()


_TIME_KEYS = ("mean_rr_ms", "mean_hr_bpm", "min_hr_bpm", "max_hr_bpm", "sdnn_ms", "rmssd_ms",
              "sdsd_ms", "nn50", "pnn50_pct", "hrv_triangular_index")
_FREQ_KEYS = ("vlf_ms2", "lf_ms2", "hf_ms2", "total_power_ms2", "vlf_pct", "lf_pct", "hf_pct",
              "lf_nu", "hf_nu", "lf_hf", "vlf_peak_hz", "lf_peak_hz", "hf_peak_hz")
_NONLINEAR_KEYS = ("sd1_ms", "sd2_ms", "sd2_sd1", "dfa_alpha1", "dfa_alpha2", "sampen")


@dataclass(frozen=True, slots=True)
class HrvResult:
    """All three domains for one series of NN intervals."""

    time: TimeDomain
    frequency: FrequencyDomain
    nonlinear: Nonlinear

    @property
    def notes(self) -> tuple[str, ...]:
        """Why some metrics are NaN, all domains together."""
        return self.time.notes + self.frequency.notes + self.nonlinear.notes

    @property
    def parameters(self) -> dict[str, dict[str, Any]]:
        """The settings used, one mapping per domain (JSON-friendly)."""
        return {
            "time_domain": asdict(self.time.parameters),
            "frequency_domain": asdict(self.frequency.parameters),
            "nonlinear": asdict(self.nonlinear.parameters),
        }

    def as_dict(self) -> dict[str, Any]:
        """Flat mapping: every metric under its field name, plus ``parameters``."""
        out: dict[str, Any] = {}
        for obj, keys in ((self.time, _TIME_KEYS), (self.frequency, _FREQ_KEYS),
                          (self.nonlinear, _NONLINEAR_KEYS)):
            for key in keys:
                out[key] = getattr(obj, key)
        out["parameters"] = self.parameters
        return out


@dataclass(frozen=True, slots=True)
class WindowResult:
    """Time- and frequency-domain HRV of one window ``[start_s, end_s)`` of a recording.

    ``nonlinear`` is None unless :func:`sliding_windows` was asked for it.
    """

    start_s: float
    end_s: float
    n_beats: int
    time: TimeDomain
    frequency: FrequencyDomain
    nonlinear: Nonlinear | None


# --------------------------------------------------------------------------- validation


def _nn_array(rr_ms: Any) -> np.ndarray:
    """``rr_ms`` as a 1-D float64 array; ValueError (one line) if any interval is unusable."""
    rr = np.asarray(rr_ms, dtype=np.float64)
    if rr.ndim != 1:
        raise ValueError(f"RR intervals must be a 1-D sequence (got shape {rr.shape})")
    bad = ~np.isfinite(rr) | (rr <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"RR intervals must be finite and positive (ms): {int(bad.sum())} "
                         f"invalid, first at index {i} ({rr[i]!r})")
    return rr


def _check_band(name: str, band: Band) -> None:
    lo, hi = band
    if not (0.0 <= lo < hi):
        raise ValueError(f"{name} band must satisfy 0 <= low < high (got {band})")


def _time_parameters(hr_average_beats: int, histogram_bin_ms: float) -> TimeDomainParameters:
    if hr_average_beats < 1 or histogram_bin_ms <= 0:
        raise ValueError("hr_average_beats must be >= 1 and histogram_bin_ms > 0")
    return TimeDomainParameters(int(hr_average_beats), float(histogram_bin_ms))


def _nonlinear_parameters(dfa_short: tuple[int, int], dfa_long: tuple[int, int], sampen_m: int,
                          sampen_r: float) -> NonlinearParameters:
    for name, (lo, hi) in (("dfa_short", dfa_short), ("dfa_long", dfa_long)):
        if not 2 <= lo < hi:
            raise ValueError(f"{name} must be (low, high) box sizes with 2 <= low < high")
    if sampen_m < 1 or sampen_r < 0:
        raise ValueError("sampen_m must be >= 1 and sampen_r >= 0")
    return NonlinearParameters((int(dfa_short[0]), int(dfa_short[1])),
                               (int(dfa_long[0]), int(dfa_long[1])), int(sampen_m),
                               float(sampen_r))


def _frequency_parameters(**kw: Any) -> FrequencyDomainParameters:
    p = FrequencyDomainParameters(**kw)
    if p.method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS} (got {p.method!r})")
    if p.detrend not in spectrum.DETRENDS:
        raise ValueError(f"detrend must be one of {spectrum.DETRENDS} (got {p.detrend!r})")
    for name, band in (("vlf", p.vlf), ("lf", p.lf), ("hf", p.hf)):
        _check_band(name, band)
    if p.resample_hz <= 0 or p.points_per_hz <= 0 or p.smoothness_lambda <= 0:
        raise ValueError("resample_hz, points_per_hz and smoothness_lambda must be positive")
    if abs(p.points_per_hz * p.resample_hz - round(p.points_per_hz * p.resample_hz)) > 1e-9:
        raise ValueError("points_per_hz * resample_hz must be a whole number (the FFT length)")
    if p.hf[1] > p.resample_hz / 2:
        raise ValueError(f"hf band ends above the Nyquist frequency of {p.resample_hz} Hz")
    if not 0.0 <= p.welch_overlap < 1.0:
        raise ValueError(f"welch_overlap must be in [0, 1) (got {p.welch_overlap})")
    if p.welch_segment_detrend not in spectrum.SEGMENT_DETRENDS:
        raise ValueError(f"welch_segment_detrend must be one of {spectrum.SEGMENT_DETRENDS} "
                         f"(got {p.welch_segment_detrend!r})")
    if p.welch_window_s > p.points_per_hz:
        # nfft = points_per_hz * fs must hold a whole window, or the grid would not be 1/ppHz.
        raise ValueError(f"welch_window_s ({p.welch_window_s}) must not exceed points_per_hz "
                         f"({p.points_per_hz}): the FFT would be shorter than the window")
    if p.ar_order < 1:
        raise ValueError(f"ar_order must be at least 1 (got {p.ar_order})")
    return p


# --------------------------------------------------------------------------- time domain


def time_domain(
    rr_ms: Any,
    *,
    hr_average_beats: int = 5,
    histogram_bin_ms: float = 1000.0 / 128.0,
) -> TimeDomain:
    """Time-domain HRV of NN intervals ``rr_ms`` (ms).

    ``hr_average_beats`` (default 5, Kubios): min/max HR are taken from heart rate (bpm)
    averaged over this many consecutive beats. ``histogram_bin_ms`` (default 1/128 s): bin
    width of the RR histogram whose tallest bin divides N for the triangular index.
    """
    params = _time_parameters(hr_average_beats, histogram_bin_ms)
    return _time_domain(_nn_array(rr_ms), params)


def _time_domain(rr: np.ndarray, p: TimeDomainParameters) -> TimeDomain:
    n = rr.size
    notes: list[str] = []
    if n == 0:
        notes.append("time domain: no beats")
        return TimeDomain(*([_NAN] * 7), 0, _NAN, _NAN, parameters=p, notes=tuple(notes))
    hr = 60000.0 / rr
    k = p.hr_average_beats
    if n >= k:
        c = np.cumsum(np.concatenate(([0.0], hr)))
        avg = (c[k:] - c[:-k]) / k
        min_hr, max_hr = float(avg.min()), float(avg.max())
    else:
        min_hr = max_hr = _NAN
        notes.append(f"min_hr_bpm, max_hr_bpm: need at least {k} beats (got {n})")
    d = np.diff(rr)
    if n >= 2:
        sdnn = float(rr.std(ddof=1))
        rmssd = float(math.sqrt(np.mean(d * d)))
        nn50 = int(np.count_nonzero(np.abs(d) > 50.0))
        pnn50 = 100.0 * nn50 / d.size
    else:
        sdnn = rmssd = pnn50 = _NAN
        nn50 = 0
        notes.append(f"sdnn_ms, rmssd_ms, nn50, pnn50_pct: need at least 2 beats (got {n})")
    if n >= 3:
        sdsd = float(d.std(ddof=1))
    else:
        sdsd = _NAN
        notes.append(f"sdsd_ms: need at least 3 beats (got {n})")
    bins = np.floor(rr / p.histogram_bin_ms).astype(np.int64)
    tallest = int(np.bincount(bins - bins.min()).max())
    return TimeDomain(
        mean_rr_ms=float(rr.mean()),
        mean_hr_bpm=float(hr.mean()),
        min_hr_bpm=min_hr,
        max_hr_bpm=max_hr,
        sdnn_ms=sdnn,
        rmssd_ms=rmssd,
        sdsd_ms=sdsd,
        nn50=nn50,
        pnn50_pct=pnn50,
        hrv_triangular_index=n / tallest,
        parameters=p,
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------- frequency domain


def frequency_domain(
    rr_ms: Any,
    *,
    method: SpectrumMethod = "welch",
    detrend: Detrend = "none",
    smoothness_lambda: float = 500.0,
    resample_hz: float = 4.0,
    welch_window_s: float = 256.0,
    welch_overlap: float = 0.5,
    welch_segment_detrend: SegmentDetrend = "constant",
    points_per_hz: int = 256,
    ar_order: int = 16,
    vlf: Band = (0.0, 0.04),
    lf: Band = (0.04, 0.15),
    hf: Band = (0.15, 0.4),
    min_band_cycles: float = 2.0,
) -> FrequencyDomain:
    """Spectral HRV of NN intervals ``rr_ms`` (ms): band powers in ms², peaks in Hz.

    Parameters (defaults follow Kubios HRV):

    * ``method``: ``"welch"`` (periodogram of the resampled tachogram), ``"lomb"`` (Lomb-Scargle
      periodograms of the uneven intervals at their beat times, averaged over Welch's segments)
      or ``"ar"`` (Burg autoregressive model of the resampled tachogram, order ``ar_order``,
      default 16, its spectrum evaluated 16 times more finely than ``points_per_hz``).
    * ``detrend``: ``"none"`` (mean only), ``"linear"`` or ``"smoothness_priors"`` (Tarvainen
      2002, regularisation ``smoothness_lambda``, default 500: at 4 Hz a high-pass whose -3 dB
      point is about 0.035 Hz). The trend is fitted on the resampled series; for Lomb it is
      interpolated back to the beat times. It changes VLF power a lot.
    * ``resample_hz``: even resampling rate of the cubic-spline tachogram (default 4 Hz).
    * ``welch_window_s`` (default 256 s) and ``welch_overlap`` (default 0.5): Welch segments; a
      record shorter than one window is a single segment of its own length.
    * ``welch_segment_detrend`` (default ``"constant"``): each Welch segment's own mean is removed
      before its Hann window (``scipy.signal.welch``'s default, ``detrend="constant"``), so the
      slow drift between segments does not land in the 0 Hz bin and inflate VLF; ``"none"`` keeps
      only the removal of the whole record's mean (VLF then counts that drift). One segment (a
      record up to ``welch_window_s`` long) gives the same spectrum either way.
    * ``points_per_hz`` (default 256): spectrum grid density, i.e. FFT length
      ``points_per_hz * resample_hz`` (1024 at 4 Hz); Welch and Lomb peaks fall on multiples
      of 1/256 Hz.
    * ``vlf``, ``lf``, ``hf``: bands ``(low, high)`` in Hz, each taken as ``low <= f < high``.
    * ``min_band_cycles`` (default 2): a band's power and peak are NaN when the record spans
      fewer than this many periods of the band's lowest frequency (its upper edge for a band
      starting at 0 Hz).
    """
    p = _frequency_parameters(
        method=method, detrend=detrend, smoothness_lambda=smoothness_lambda,
        resample_hz=resample_hz, welch_window_s=welch_window_s, welch_overlap=welch_overlap,
        welch_segment_detrend=welch_segment_detrend, points_per_hz=points_per_hz,
        ar_order=ar_order, vlf=tuple(vlf), lf=tuple(lf), hf=tuple(hf),
        min_band_cycles=min_band_cycles)
    return _frequency_domain(_nn_array(rr_ms), p)


def _spectrum(rr: np.ndarray,
              p: FrequencyDomainParameters) -> tuple[np.ndarray, np.ndarray, float]:
    """One-sided PSD (ms²/Hz), its frequencies (Hz) and their spacing (Hz).

    Welch: the grid k / points_per_hz up to resample_hz / 2. Lomb: the same grid from its first
    nonzero point up to the highest band edge. AR: a grid ``_AR_OVERSAMPLE`` times finer.
    """
    fs = p.resample_hz
    nfft = round(p.points_per_hz * fs)
    t = np.cumsum(rr) / 1000.0
    grid = spectrum.even_grid(t[0], t[-1] - t[0], fs, closed=True)
    x = spectrum.resample(t, rr, grid)
    trend = spectrum.trend(x, p.detrend, smoothness_lambda=p.smoothness_lambda)
    if p.method == "lomb":
        # Lomb costs beats x frequencies: evaluate it only up to the highest band edge.
        top = max(p.vlf[1], p.lf[1], p.hf[1])
        freq = np.arange(1, math.floor(top * p.points_per_hz) + 1) / p.points_per_hz
        psd = spectrum.lomb_welch(t, rr - np.interp(t, grid, trend), freq,
                                  window_s=p.welch_window_s, overlap=p.welch_overlap)
        return freq, psd, 1 / p.points_per_hz
    x = x - trend
    x = x - x.mean()
    if p.method == "ar":
        n_ar = nfft * _AR_OVERSAMPLE
        freq, psd = spectrum.ar_psd(x, p.ar_order, fs, n_ar)
        return freq, psd, fs / n_ar
    nperseg = min(x.size, round(p.welch_window_s * fs))
    psd = spectrum.welch(x, fs, nperseg=nperseg, noverlap=round(nperseg * p.welch_overlap),
                         nfft=nfft, detrend=p.welch_segment_detrend)
    return spectrum.frequencies(nfft, fs), psd, fs / nfft


def _frequency_domain(rr: np.ndarray, p: FrequencyDomainParameters) -> FrequencyDomain:
    if rr.size < 4:
        note = f"frequency domain: need at least 4 beats (got {rr.size})"
        return FrequencyDomain(*([_NAN] * 13), parameters=p, notes=(note,))
    duration = float(rr[1:].sum()) / 1000.0
    notes: list[str] = []
    reportable = []
    for name, (lo, hi) in (("vlf", p.vlf), ("lf", p.lf), ("hf", p.hf)):
        slowest = lo if lo > 0 else hi
        needed = p.min_band_cycles / slowest
        if duration >= needed:
            reportable.append((name, lo, hi))
        else:
            notes.append(f"{name}: record spans {duration:.0f} s, need {needed:.0f} s "
                         f"({p.min_band_cycles:g} cycles of {slowest:g} Hz)")
    powers = dict.fromkeys(("vlf", "lf", "hf"), _NAN)
    peaks = dict(powers)
    freq, psd, df = _spectrum(rr, p) if reportable else (np.empty(0), np.empty(0), 0.0)
    for name, lo, hi in reportable:
        mask = (freq >= lo) & (freq < hi)
        if mask.any():
            band = psd[mask]
            powers[name] = float(band.sum() * df)
            peaks[name] = float(freq[mask][int(np.argmax(band))])
        else:
            notes.append(f"{name}: band holds no spectrum bin")
    vlf, lf, hf = powers["vlf"], powers["lf"], powers["hf"]
    total = vlf + lf + hf
    lf_hf_sum = lf + hf
    if hf == 0.0 or lf_hf_sum == 0.0 or total == 0.0:
        notes.append("zero spectral power in a band: shares and ratios over it are undefined")
    freq.setflags(write=False)
    psd.setflags(write=False)
    return FrequencyDomain(
        vlf_ms2=vlf,
        lf_ms2=lf,
        hf_ms2=hf,
        total_power_ms2=total,
        vlf_pct=_ratio(100.0 * vlf, total),
        lf_pct=_ratio(100.0 * lf, total),
        hf_pct=_ratio(100.0 * hf, total),
        lf_nu=_ratio(100.0 * lf, lf_hf_sum),
        hf_nu=_ratio(100.0 * hf, lf_hf_sum),
        lf_hf=_ratio(lf, hf),
        vlf_peak_hz=peaks["vlf"],
        lf_peak_hz=peaks["lf"],
        hf_peak_hz=peaks["hf"],
        parameters=p,
        notes=tuple(notes),
        freq_hz=freq,
        psd_ms2_hz=psd,
    )


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else _NAN


# --------------------------------------------------------------------------- nonlinear


def nonlinear(
    rr_ms: Any,
    *,
    dfa_short: tuple[int, int] = (4, 16),
    dfa_long: tuple[int, int] = (16, 64),
    sampen_m: int = 2,
    sampen_r: float = 0.2,
) -> Nonlinear:
    """Poincaré SD1/SD2 (ms), DFA alpha1/alpha2 and sample entropy of NN intervals (ms).

    ``dfa_short`` (default 4-16 beats) and ``dfa_long`` (default 16-64 beats): inclusive ranges
    of box sizes for DFA (Peng 1995: non-overlapping boxes, linear detrending in each, every
    integer size). ``sampen_m`` (default 2): template length; ``sampen_r`` (default 0.2):
    tolerance as a fraction of SDNN, with Chebyshev distance and matches at ``<= r``.
    """
    params = _nonlinear_parameters(dfa_short, dfa_long, sampen_m, sampen_r)
    return _nonlinear(_nn_array(rr_ms), params)


_DFA_REGION = 1 << 15
"""Profile samples whose boxes are fitted for every box size before moving on: about 256 KiB,
so the passes over them run in the CPU cache rather than from memory on long recordings."""


def _dfa_fluctuations(y: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """For each box size ``n``: the RMS of the profile ``y`` around a line fitted by least squares
    in each non-overlapping box of ``n`` (boxes from the start; a last partial box is left out)."""
    squares = np.zeros(sizes.size)
    for start in range(0, y.size, _DFA_REGION):
        for i, n in enumerate(sizes.tolist()):
            # The boxes that begin in this region (the last may reach a little past it).
            first = -(-start // n)
            stop = min(-(-(start + _DFA_REGION) // n), y.size // n)
            if stop <= first:
                continue
            boxes = y[first * n:stop * n].reshape(-1, n)
            xc = np.arange(n) - (n - 1) / 2.0
            slopes = boxes @ xc / np.dot(xc, xc)
            resid = boxes - boxes.mean(axis=1, keepdims=True) - slopes[:, None] * xc
            squares[i] += np.einsum("ij,ij->", resid, resid)
    return np.sqrt(squares / ((y.size // sizes) * sizes))


def _dfa_alpha(y: np.ndarray, sizes: tuple[int, int]) -> float:
    n = np.arange(sizes[0], sizes[1] + 1)
    f = _dfa_fluctuations(y, n)
    if np.any(f <= 0):
        return _NAN
    return float(np.polyfit(np.log10(n), np.log10(f), 1)[0])


_WORD = 64
_BLOCK_WORDS = 16
"""Words (of 64 templates) whose match masks are built at once. Smaller blocks leave fewer
queries outside the grouped "core" (see :func:`_template_matches`); 16 was fastest on 1e5 and
1e6 beats (8 and 32 were 10-20 % slower)."""
_ALL_BITS = np.uint64(0xFFFFFFFFFFFFFFFF)


def _match_bounds(values: np.ndarray, r: float) -> tuple[np.ndarray, np.ndarray]:
    """For sorted distinct ``values``: the first and last index of the values within ``r`` of
    each, by the float comparison ``abs(a - b) <= r`` itself (the bounds of ``values +- r`` are
    only a first guess: ``a - b`` rounds differently from ``a - r``)."""
    lo = np.searchsorted(values, values - r, side="left")
    hi = np.searchsorted(values, values + r, side="right") - 1
    top = values.size - 1
    while True:
        grow = (lo > 0) & (values - values[np.maximum(lo - 1, 0)] <= r)
        shrink = values - values[lo] > r
        if not (grow.any() or shrink.any()):
            break
        lo = lo - grow + shrink
    while True:
        grow = (hi < top) & (values[np.minimum(hi + 1, top)] - values <= r)
        shrink = values[hi] - values > r
        if not (grow.any() or shrink.any()):
            break
        hi = hi + grow - shrink
    return lo, hi


def _popcount(words: np.ndarray) -> int:
    return int(np.bitwise_count(words).sum(dtype=np.int64))


def _block_masks(block_codes: np.ndarray, query_codes: np.ndarray, lo: np.ndarray,
                 hi: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Match masks of one block of templates, for the codes the queries reaching it carry.

    ``block_codes``: the value code (index into the distinct values) of one coordinate of the
    templates at the block's positions, 64 per word. Returns ``masks`` (words x columns, uint64)
    and ``needed``: bit ``b`` of ``masks[w, j]`` is set when the template at position ``64 w + b``
    of the block matches code ``c`` in this coordinate (its code lies in ``[lo[c], hi[c]]``),
    where column ``j`` is ``c`` itself when ``needed`` is None, else ``c``'s index in ``needed``.
    """
    words = -(-block_codes.size // _WORD)
    pos = np.arange(block_codes.size)
    needed: np.ndarray | None = None
    if lo.size <= query_codes.size:
        # Few distinct values (RR quantised to 1 ms or 1/1024 s): a column per value.
        local, width = block_codes, lo.size
    else:
        # Many distinct values: only those present in the block and those the queries need.
        present, local = np.unique(block_codes, return_inverse=True)
        needed = np.unique(query_codes)
        width = present.size
    cells = np.zeros(words * (width + 1), dtype=np.uint64)
    # One bit per position, so adding the bits of a (word, value) cell is their union.
    np.add.at(cells, (pos // _WORD) * (width + 1) + local + 1,
              np.left_shift(np.uint64(1), (pos % _WORD).astype(np.uint64)))
    # prefix[w, t]: the positions of word w whose value is among the first t.
    prefix = np.cumsum(cells.reshape(words, width + 1), axis=1, dtype=np.uint64)
    if needed is None:
        upto, below = hi + 1, lo
    else:
        upto = np.searchsorted(present, hi[needed], side="right")
        below = np.searchsorted(present, lo[needed], side="left")
    return np.take(prefix, upto, axis=1) ^ np.take(prefix, below, axis=1), needed


def _mask_columns(codes: np.ndarray, needed: np.ndarray | None) -> np.ndarray:
    """Columns of :func:`_block_masks`'s masks for value ``codes``."""
    return codes if needed is None else np.searchsorted(needed, codes)


def _count_matches(words: list[np.ndarray], bits: np.ndarray | None,
                   weight: np.ndarray | None) -> tuple[int, int]:
    """Matches ``(A, B)`` in mask words: ``words[k]`` holds, for coordinate ``k + 1`` of the
    templates, the mask words tested (all the same shape); B tests coordinates 1 .. m-1 and A all
    m. ``bits`` (if given) keeps only part of each word. Without ``weight`` every bit counts
    once; with it, ``words`` are (word x group) and group ``j`` counts ``weight[j]`` times."""
    m = len(words)
    g = words[0] if m > 1 else None
    for k in range(1, m - 1):
        g = g & words[k]
    if bits is not None:
        g = bits if g is None else g & bits
    a = words[m - 1] if g is None else words[m - 1] & g
    if weight is None:
        return _popcount(a), (0 if g is None or m == 1 else _popcount(g))
    a_sum = np.bitwise_count(a).sum(axis=0, dtype=np.int64) @ weight
    b_sum = 0 if g is None else np.bitwise_count(g).sum(axis=0, dtype=np.int64) @ weight
    return int(a_sum), int(b_sum)


_DENSE_TEMPLATES = 1500
"""Up to this many templates (a 5-minute window's ~350 and more), every pair is compared at
once: the N x N comparison costs less than building the bit masks."""


def _template_matches_dense(x: np.ndarray, m: int, r: float) -> tuple[int, int]:
    """:func:`_template_matches` by comparing every pair of values at once (small N only)."""
    n = x.size - m
    close = np.abs(x[:, None] - x[None, :]) <= r
    match = np.ones((n, n), dtype=bool)
    for k in range(m):
        match &= close[k:k + n, k:k + n]
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    b = int(np.count_nonzero(match & upper))
    a = int(np.count_nonzero(match & close[m:m + n, m:m + n] & upper))
    return a, b


_HISTOGRAM_CELLS = 1 << 22
"""Most D x D cells (D regular values) of :func:`_histogram_matches`'s tables (32 MiB for m = 2):
room for RR quantised to 1 ms or 1/1024 s over 300-2000 ms."""
_REGULAR_COUNT = 3
"""Fewest occurrences of a value for :func:`_histogram_matches` to give it a row of its tables.
Artifact correction interpolates values off the strap's grid, each taken about once: on a day of
corrected beats they triple D (539 to 1941 on 6e5 beats) but touch only 0.7 % of the templates,
which bit masks count for far less."""
_REGULAR_SHARE = 4000.0
"""A value has a row of :func:`_histogram_matches`'s tables only if it occurs at least D^2 / 4000
times, D counting the values past ``_REGULAR_COUNT``: a row costs about D x (a box union's
width) cells over the sweep, a template outside the tables a few hundred. That is 60 for D 500,
where it was fastest (of 3 to 128: by 1.7x over 3 on 1e5 beats, 1.2x on 1e6)."""
_CACHED_VALUES = 512
"""D up to which :func:`_histogram_matches`'s tables (D x D) stay mostly in cache; past it a
cell costs about D / 512 times as much (measured 6.8 ns at D 539, 11.4 at 767, 22 at 1941)."""
_SWEEP_STEP_CELLS = 7500.0
"""Cost of one step of :func:`_histogram_matches`'s sweep (a few dozen NumPy calls), in
histogram cells summed (about 6 ns each, prefix sums and all)."""
_HISTOGRAM_TEMPLATE_CELLS = 50.0
"""Cost of one template in :func:`_histogram_matches` (sorting, windows, boxes), in cells."""
_MASK_TEMPLATE_CELLS = 150.0
"""Cost of one template in :func:`_bitmask_matches` (sorting, grouping, blocks), in cells."""
_MASK_WORD_CELLS = 1.0
"""Cost of one 64-template mask word of one value in :func:`_bitmask_matches`, in cells: it
varies with how well the queries group, from 0.1 (m = 1, a day of beats) to 2; 1 is about right
for m = 2 on 1e5 to 3e5 beats, where the two methods cost about the same."""


def _first_value_pairs(codes: np.ndarray, n: int, lo: np.ndarray, hi: np.ndarray) -> int:
    """Unordered pairs of distinct templates among the first ``n`` that match in their first
    value: B for m = 1."""
    counts = np.bincount(codes[:n], minlength=lo.size)
    below = np.concatenate(([0], np.cumsum(counts)))
    return (int(np.dot(counts, below[hi + 1] - below[lo])) - n) // 2


def _box_cover(swept: np.ndarray, c: np.ndarray, lo: np.ndarray, hi: np.ndarray,
               width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The table codes (below ``width``) that the boxes ``[lo[c], hi[c]]`` (empty where
    ``lo > hi``; ``lo`` and ``hi`` rise with the box number ``c``) of the queries whose swept box
    number is ``u`` cover (their union), for every ``u`` at once.

    Returns ``cells`` (each ``u``'s covered codes, sorted, one ``u`` after the other),
    ``offset`` (``u``'s are ``cells[offset[u]:offset[u + 1]]``) and each query's box as
    positions ``[start, stop)`` within its own ``u``'s cover (``[0, 0)`` if empty).
    """
    d = lo.size
    seen = np.zeros(d * d, dtype=bool)
    seen[swept * d + c] = True
    u, v = np.divmod(np.flatnonzero(seen), d)
    # lo and hi rise with the code, so a box adds to its u's union only past the previous box.
    prev_hi = np.concatenate(([-1], np.where(u[1:] == u[:-1], hi[v[:-1]], -1)))
    begin = np.maximum(lo[v], prev_hi + 1)
    length = np.maximum(hi[v] - begin + 1, 0)
    total = int(length.sum())
    cells = np.repeat(begin - (np.cumsum(length) - length), length) + np.arange(total)
    offset = np.concatenate(([0], np.cumsum(np.bincount(u, weights=length, minlength=d))))
    offset = offset.astype(np.intp)
    owner = np.repeat(u, length)
    # Position of code v in u's cover at u * width + v; one more cell, so that an empty box's
    # ends (lo up to width, hi down to -1) index it too before they are zeroed.
    position = np.zeros(d * width + 1, dtype=np.int32)
    position[owner * width + cells] = np.arange(total) - offset[owner]
    box_lo, box_hi, at = lo[c], hi[c], swept * width
    start, stop = position[at + box_lo], position[at + box_hi] + 1
    empty = np.flatnonzero(box_lo > box_hi)
    start[empty] = stop[empty] = 0
    return cells, offset, start, stop


def _prefix_sums(hist: np.ndarray, axes: list[np.ndarray]) -> np.ndarray:
    """Sums of ``hist`` restricted to the cells ``axes[k]`` along each axis ``k``, over every
    box that starts at the first cell: ``prefix[i, j] = sum(sub[:i, :j])``, flattened."""
    sub = hist
    for axis, cells in enumerate(axes):
        # A cover is mostly one interval: a view, not a copy.
        pick = (slice(cells[0], cells[-1] + 1) if cells[-1] - cells[0] + 1 == cells.size
                else cells)
        sub = sub[(slice(None),) * axis + (pick,)]
    prefix = np.zeros(tuple(s + 1 for s in sub.shape), dtype=np.int64)
    inner = prefix[(slice(1, None),) * sub.ndim]
    np.cumsum(sub, axis=0, out=inner)
    for axis in range(1, sub.ndim):
        np.cumsum(inner, axis=axis, out=inner)
    return prefix.ravel()


def _box_corners(covers: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
                 swept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each template's box in :func:`_prefix_sums` of its swept code's covers: ``signs`` and
    ``corners`` (flat indices, one row per corner) such that the box sum is
    ``signs @ prefix[corners]`` (inclusion-exclusion)."""
    stride = np.ones(swept.size, dtype=np.int32)
    strides = []
    for _, offset, _, _ in covers[::-1]:
        strides.append(stride)
        stride = stride * (np.diff(offset).astype(np.int32)[swept] + 1)
    strides.reverse()
    signs, corners = [], []
    for corner in itertools.product((False, True), repeat=len(covers)):
        signs.append(1 if (len(covers) - sum(corner)) % 2 == 0 else -1)
        corners.append(sum((stop if top else start) * st
                           for (_, _, start, stop), st, top in zip(covers, strides, corner)))
    return np.array(signs), np.array(corners)


def _histogram_matches(codes: np.ndarray, m: int, lo: np.ndarray, hi: np.ndarray,
                       budget: float = math.inf) -> tuple[int, int] | None:
    """:func:`_template_matches` by histograms of value ``codes`` (m = 1 or 2, ``lo``/``hi`` of
    :func:`_match_bounds` with r >= 0); None (nothing counted) if the tables would exceed
    ``_HISTOGRAM_CELLS`` or its cost estimate, in histogram cells summed, ``budget``.

    A template matches another when each code lies in the other's box ``[lo[c], hi[c]]``; that
    is symmetric and includes the template itself. The values taken often enough (see
    ``_REGULAR_SHARE``) are "regular": the templates of regular values only (R) go in the tables,
    indexed by regular code, and every template is a query, its box cut down to the regular
    codes. Over the queries of R the box counts sum to ``S_RR``, over the rest (I) to ``S_IR``;
    the pairs are ``(S_RR - |R|) / 2 + S_IR`` and the pairs within I, counted by bit masks (I is
    small).

    The sweep takes the m-th code ``u`` of the queries in order: the templates of R whose m-th
    code is in ``u``'s box (a window of R sorted by it, sliding forward) are kept in a dense
    histogram of their other codes (and one without the last code, for B; B for m = 1 needs no
    sweep), whose box sums, by prefix sums over the union of the boxes, answer the queries whose
    m-th code has ``u``'s box. Time about N plus D x that union's cells (a few hundred squared on
    a day's beats at 1/1024 s), whatever the number of pairs, which limits the bit masks.
    Identical templates are not merged: on a day's beats three in four are distinct, and merging
    (a sort) costs more than it saves.
    """
    n = codes.size - m
    counts = np.bincount(codes, minlength=lo.size)
    common = np.count_nonzero(counts >= _REGULAR_COUNT)
    regular = counts >= max(_REGULAR_COUNT, common * common / _REGULAR_SHARE)
    # below[c]: the regular codes under code c, so the table code of a regular c.
    below = np.concatenate(([0], np.cumsum(regular))).astype(np.int32)
    width = int(below[-1])
    if width * width > _HISTOGRAM_CELLS:
        return None
    # Indices into the tables, below D x D, fit 32 bits: half the memory traffic of 64.
    codes = np.asarray(codes, dtype=np.int32)
    columns = [codes[k:k + n] for k in range(m + 1)]
    odd = ~regular[codes]
    inside = ~np.logical_or.reduce([odd[k:k + n] for k in range(m + 1)])
    rest = [c[~inside] for c in columns]
    cost = _HISTOGRAM_TEMPLATE_CELLS * n + _bitmask_cost(rest[0], m, lo, hi)
    if cost > budget:
        return None
    # A box in table codes: the regular codes in [lo, hi]. Codes with the same box share a box
    # number (rising with the code), which the queries carry instead: fewer than 2 D + 2 of them
    # however many rare values there are.
    box_lo, box_hi = below[lo], below[hi + 1] - 1
    new = np.concatenate(([True], (np.diff(box_lo) != 0) | (np.diff(box_hi) != 0)))
    box_of = (np.cumsum(new) - 1).astype(np.int32)
    box_lo, box_hi = box_lo[new], box_hi[new]
    # The queries: every template, and those of I once more, since a pair within R is met from
    # both its ends and one with I only from I's.
    queries = [np.concatenate((c, t)) for c, t in zip(columns, rest)]
    tabled = np.concatenate((inside, np.zeros(rest[0].size, dtype=bool)))
    # The swept code: the middle one for m = 2, whose neighbours on either side vary less
    # together than two successive values do, so that the boxes' unions are smaller (by 7-13 %
    # on a day of beats).
    sweep = m - 1
    # By code, not box number: then R's templates are in order of their table code too.
    order = np.argsort(queries[sweep].astype(np.min_scalar_type(lo.size)), kind="stable")
    queries = [c[order] for c in queries]
    tabled = np.flatnonzero(tabled[order])   # R's templates among the sorted queries
    swept = box_of[queries[sweep]]
    covers = [_box_cover(swept, box_of[c], box_lo, box_hi, width)
              for k, c in enumerate(queries) if k != sweep]
    begin = np.concatenate(([0], np.cumsum(np.bincount(swept, minlength=box_lo.size))))
    steps = np.flatnonzero(np.diff(begin))
    cells = np.prod([np.diff(offset)[steps] for _, offset, _, _ in covers], axis=0,
                    dtype=np.float64)
    cost += max(1.0, width / _CACHED_VALUES) * cells.sum() + _SWEEP_STEP_CELLS * steps.size
    if cost > budget:
        return None
    # window[t]: the templates of R whose swept table code is below t.
    window = np.searchsorted(tabled, np.searchsorted(
        queries[sweep], np.append(np.flatnonzero(regular), regular.size)))
    # Histogram index of each template of R: its other codes (for A), all but the last (for B).
    index_a = np.zeros(queries[0].size, dtype=np.int64)
    for k, c in enumerate(queries):
        if k != sweep:
            index_a = index_a * width + below[c]
    index_a = index_a[tabled]
    sweeps = [(np.zeros(width ** m, dtype=np.int64), index_a, m, *_box_corners(covers, swept))]
    if m > 1:
        sweeps.append((np.zeros(width ** (m - 1), dtype=np.int64), index_a // width, m - 1,
                       *_box_corners(covers[:-1], swept)))
    sums = [0] * len(sweeps)
    held = past = 0   # the window: table templates held .. past - 1
    for u in steps.tolist():
        new_held, new_past = int(window[box_lo[u]]), int(window[box_hi[u] + 1])
        for hist, index, _, _, _ in sweeps:
            np.add.at(hist, index[past:new_past], 1)
            np.subtract.at(hist, index[held:new_held], 1)
        held, past = new_held, new_past
        axes = [cover[offset[u]:offset[u + 1]] for cover, offset, _, _ in covers]
        for i, (hist, _, k, signs, corners) in enumerate(sweeps):
            if any(a.size == 0 for a in axes[:k]):
                continue   # every box of u is empty on some axis
            prefix = _prefix_sums(hist.reshape((width,) * k), axes[:k])
            sums[i] += int(signs @ prefix[corners[:, begin[u]:begin[u + 1]]].sum(axis=1))
    r_size = tabled.size
    rest_a, rest_b = _bitmask_template_matches(rest, lo, hi)
    a = (sums[0] - r_size) // 2 + rest_a
    b = ((sums[1] - r_size) // 2 + rest_b if m > 1
         else _first_value_pairs(columns[0], n, lo, hi))
    return a, b


def _bitmask_cost(first: np.ndarray, m: int, lo: np.ndarray, hi: np.ndarray) -> float:
    """Estimated cost of :func:`_bitmask_template_matches` on templates of first codes
    ``first``, in histogram cells summed: per template, and per mask word (the pairs of templates
    matching in the first value / 64, for each later value)."""
    n = first.size
    words = m * _first_value_pairs(first, n, lo, hi) / _WORD
    return _MASK_TEMPLATE_CELLS * n + _MASK_WORD_CELLS * words


def _bitmask_matches(codes: np.ndarray, m: int, lo: np.ndarray,
                     hi: np.ndarray) -> tuple[int, int]:
    """:func:`_template_matches` by bit masks, for value ``codes`` (ranks among the distinct
    values) and their ``lo``/``hi`` of :func:`_match_bounds`."""
    n = codes.size - m
    return _bitmask_template_matches([codes[k:k + n] for k in range(m + 1)], lo, hi)


def _bitmask_template_matches(columns: list[np.ndarray], lo: np.ndarray,
                              hi: np.ndarray) -> tuple[int, int]:
    """Match counts ``(A, B)`` among any templates, ``columns[k]`` holding their codes of value
    ``k`` (m = ``len(columns) - 1``): A over all m + 1 values, B over the first m.

    Templates are sorted by their first value, so the templates matching one ("query") in that
    value are a contiguous run after it. The later values are tested 64 templates (one word) at a
    time, as bit masks of the templates matching each distinct value, and the matches counted with
    popcount. Words are taken in blocks; the queries whose run covers a whole block are grouped by
    their later values, so that each group present is tested once per word and counted as many
    times as it has queries (a day's run of 70 000 queries holds about 20 000 groups). Time about
    N x (run length) / 64 word operations, less the grouping's share.
    """
    m = len(columns) - 1
    n = columns[0].size
    order = np.argsort(columns[0], kind="stable")
    first = columns[0][order]
    # Query p (in sorted order) matches the templates p+1 .. last[p] in its first value.
    last = np.searchsorted(first, hi[first], side="right") - 1
    positions = np.arange(n)
    coords = [c[order] for c in columns[1:]]
    # Group of each query: its later values (coordinates 1..m), numbered one coordinate at a time
    # (a number below groups x values fits in 64 bits).
    group_of = np.zeros(n, dtype=np.int64)
    for c in coords:
        _, group_of = np.unique(group_of * lo.size + c, return_inverse=True)
    representative = np.zeros(int(group_of.max()) + 1 if n else 0, dtype=np.intp)
    representative[group_of[::-1]] = positions[::-1]
    groups = [c[representative] for c in coords]
    # B with m = 1 tests no later value: every template of the run matches.
    b_total = int(np.sum(np.maximum(last - positions, 0))) if m == 1 else 0
    a_total = 0
    words = -(-n // _WORD)
    for w0 in range(0, words, _BLOCK_WORDS):
        w1 = min(words, w0 + _BLOCK_WORDS)
        p0, p1 = w0 * _WORD, min(w1 * _WORD, n)
        qa, qb = int(np.searchsorted(last, p0, side="left")), p1 - 1   # queries reaching it
        if qa >= qb:
            continue
        built = [_block_masks(c[p0:p1], c[qa:qb], lo, hi) for c in coords]
        # Queries whose run covers every word of the block ("core"): p + 1 < 64 w0 and
        # last[p] >= 64 w1; grouped.
        core_lo = int(np.searchsorted(last, _WORD * w1, side="left"))
        core_hi = max(core_lo, _WORD * w0 - 1)
        if core_hi > core_lo:
            sizes = np.bincount(group_of[core_lo:core_hi], minlength=representative.size)
            present = np.flatnonzero(sizes)
            if 2 * present.size < core_hi - core_lo:
                a, b = _count_matches(
                    [np.take(masks, _mask_columns(g[present], needed), axis=1)
                     for (masks, needed), g in zip(built, groups)], None, sizes[present])
            else:
                # Groups of about one query each (short runs): test the queries word by word.
                cols = [_mask_columns(c[core_lo:core_hi], needed)
                        for (_, needed), c in zip(built, coords)]
                a = b = 0
                for row in range(w1 - w0):
                    a_row, b_row = _count_matches(
                        [np.take(masks[row], col) for (masks, _), col in zip(built, cols)],
                        None, None)
                    a += a_row
                    b += b_row
            a_total += a
            b_total += b
        # The other queries reaching the block, one (query, word) cell per word of their run in
        # the block, whole words and the partial first and last words alike.
        q = np.concatenate((np.arange(qa, min(core_lo, qb)), np.arange(max(core_hi, qa), qb)))
        end = last[q]
        q, end = q[end > q], end[end > q]
        first_word = np.maximum((q + 1) // _WORD, w0)
        span = np.maximum(np.minimum(end // _WORD, w1 - 1) - first_word + 1, 0)
        cell = np.repeat(np.arange(q.size), span)
        word = first_word[cell] + (np.arange(cell.size) - np.repeat(np.cumsum(span) - span, span))
        start_bit = np.clip(q[cell] + 1 - _WORD * word, 0, _WORD - 1).astype(np.uint64)
        end_bit = np.clip(end[cell] - _WORD * word, 0, _WORD - 1).astype(np.uint64)
        bits = (_ALL_BITS << start_bit) & (_ALL_BITS >> (np.uint64(_WORD - 1) - end_bit))
        a, b = _count_matches(
            [np.take(masks, (word - w0) * masks.shape[1]
                     + _mask_columns(c[q[cell]], needed))
             for (masks, needed), c in zip(built, coords)], bits, None)
        a_total += a
        b_total += b
    return a_total, b_total


def _template_matches(x: np.ndarray, m: int, r: float) -> tuple[int, int]:
    """Match counts ``(A, B)`` of sample entropy: unordered pairs of distinct templates among the
    ``N - m`` start points whose first ``m + 1`` (A) or ``m`` (B) values all lie within ``r``
    (``abs(a - b) <= r``, the Chebyshev distance).

    Exact, and far faster than testing pairs: a few templates are compared all at once; the
    values are otherwise coded by rank among the distinct ones, and the pairs counted by
    histograms of the codes (:func:`_histogram_matches`, for m <= 2 and few distinct values
    besides rare ones, as RR quantised to 1 ms or 1/1024 s, artifacts corrected or not) or else by
    bit masks (:func:`_bitmask_matches`), whichever is estimated cheaper.
    """
    n = x.size - m
    if n <= _DENSE_TEMPLATES:
        return _template_matches_dense(x, m, r)
    values, codes = np.unique(x, return_inverse=True)
    lo, hi = _match_bounds(values, r)
    if m <= 2 and r >= 0:
        counts = _histogram_matches(codes, m, lo, hi, _bitmask_cost(codes[:n], m, lo, hi))
        if counts is not None:
            return counts
    return _bitmask_matches(codes, m, lo, hi)


def _sample_entropy(rr: np.ndarray, m: int, r: float) -> tuple[float, int, int]:
    """SampEn(m, r) of ``rr`` with its match counts (A for length m+1, B for length m).

    Both counts run over the same N - m template start points (Richman & Moorman 2000); see
    :func:`_template_matches` for how they are counted, exactly.
    """
    a, b = _template_matches(rr, m, r)
    value = -math.log(a / b) if a > 0 and b > 0 else _NAN
    return value, a, b


def _nonlinear(rr: np.ndarray, p: NonlinearParameters) -> Nonlinear:
    n = rr.size
    notes: list[str] = []
    if n >= 3:
        x, y = rr[:-1], rr[1:]
        sd1 = float(np.std((y - x) / math.sqrt(2.0), ddof=1))
        sd2 = float(np.std((y + x) / math.sqrt(2.0), ddof=1))
    else:
        sd1 = sd2 = _NAN
        notes.append(f"sd1_ms, sd2_ms: need at least 3 beats (got {n})")
    profile = np.cumsum(rr - rr.mean()) if n else rr
    alphas = []
    for name, sizes in (("dfa_alpha1", p.dfa_short), ("dfa_alpha2", p.dfa_long)):
        if n >= 2 * sizes[1]:
            alphas.append(_dfa_alpha(profile, sizes))
            if math.isnan(alphas[-1]):
                notes.append(f"{name}: zero fluctuation in some box size (constant intervals)")
        else:
            alphas.append(_NAN)
            notes.append(f"{name}: need at least {2 * sizes[1]} beats, two boxes of "
                         f"{sizes[1]} (got {n})")
    sampen = _NAN
    if n >= p.sampen_m + 3:
        sampen, a, b = _sample_entropy(rr, p.sampen_m, p.sampen_r * float(rr.std(ddof=1)))
        if math.isnan(sampen):
            notes.append(f"sampen: no template matches (A={a}, B={b}), entropy undefined")
    else:
        notes.append(f"sampen: need at least {p.sampen_m + 3} beats (got {n})")
    return Nonlinear(
        sd1_ms=sd1,
        sd2_ms=sd2,
        sd2_sd1=_ratio(sd2, sd1),
        dfa_alpha1=alphas[0],
        dfa_alpha2=alphas[1],
        sampen=sampen,
        parameters=p,
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------- all together


def analyze(
    rr_ms: Any,
    *,
    hr_average_beats: int = 5,
    histogram_bin_ms: float = 1000.0 / 128.0,
    method: SpectrumMethod = "welch",
    detrend: Detrend = "none",
    smoothness_lambda: float = 500.0,
    resample_hz: float = 4.0,
    welch_window_s: float = 256.0,
    welch_overlap: float = 0.5,
    welch_segment_detrend: SegmentDetrend = "constant",
    points_per_hz: int = 256,
    ar_order: int = 16,
    vlf: Band = (0.0, 0.04),
    lf: Band = (0.04, 0.15),
    hf: Band = (0.15, 0.4),
    min_band_cycles: float = 2.0,
    dfa_short: tuple[int, int] = (4, 16),
    dfa_long: tuple[int, int] = (16, 64),
    sampen_m: int = 2,
    sampen_r: float = 0.2,
) -> HrvResult:
    """Time, frequency and nonlinear HRV of NN intervals ``rr_ms`` (ms).

    Each keyword is the one of :func:`time_domain`, :func:`frequency_domain` or
    :func:`nonlinear`, with the same default.
    """
    rr = _nn_array(rr_ms)
    return HrvResult(
        time=time_domain(rr, hr_average_beats=hr_average_beats,
                         histogram_bin_ms=histogram_bin_ms),
        frequency=frequency_domain(
            rr, method=method, detrend=detrend, smoothness_lambda=smoothness_lambda,
            resample_hz=resample_hz, welch_window_s=welch_window_s,
            welch_overlap=welch_overlap, welch_segment_detrend=welch_segment_detrend,
            points_per_hz=points_per_hz, ar_order=ar_order,
            vlf=vlf, lf=lf, hf=hf, min_band_cycles=min_band_cycles),
        nonlinear=nonlinear(rr, dfa_short=dfa_short, dfa_long=dfa_long, sampen_m=sampen_m,
                            sampen_r=sampen_r),
    )


def sliding_windows(
    rr_ms: Any,
    window_s: float = 300.0,
    step_s: float = 30.0,
    *,
    include_nonlinear: bool = False,
    hr_average_beats: int = 5,
    histogram_bin_ms: float = 1000.0 / 128.0,
    method: SpectrumMethod = "welch",
    detrend: Detrend = "none",
    smoothness_lambda: float = 500.0,
    resample_hz: float = 4.0,
    welch_window_s: float = 256.0,
    welch_overlap: float = 0.5,
    welch_segment_detrend: SegmentDetrend = "constant",
    points_per_hz: int = 256,
    ar_order: int = 16,
    vlf: Band = (0.0, 0.04),
    lf: Band = (0.04, 0.15),
    hf: Band = (0.15, 0.4),
    min_band_cycles: float = 2.0,
    dfa_short: tuple[int, int] = (4, 16),
    dfa_long: tuple[int, int] = (16, 64),
    sampen_m: int = 2,
    sampen_r: float = 0.2,
) -> tuple[WindowResult, ...]:
    """HRV of windows of ``window_s`` seconds (default 300) every ``step_s`` (default 30).

    Window ``k`` covers ``[k * step_s, k * step_s + window_s)`` on the time axis (s since the
    recording began, i.e. before the first interval) and holds the beats that end inside it;
    windows run while they fit in the recording. Each window is analysed on its own, exactly as
    :func:`time_domain` and :func:`frequency_domain` would analyse its beats.
    ``include_nonlinear`` (default False) adds :func:`nonlinear` per window, which costs more.
    Other keywords are those of :func:`analyze`.
    """
    if window_s <= 0 or step_s <= 0:
        raise ValueError("window_s and step_s must be positive")
    rr = _nn_array(rr_ms)
    tp = _time_parameters(hr_average_beats, histogram_bin_ms)
    fp = _frequency_parameters(
        method=method, detrend=detrend, smoothness_lambda=smoothness_lambda,
        resample_hz=resample_hz, welch_window_s=welch_window_s, welch_overlap=welch_overlap,
        welch_segment_detrend=welch_segment_detrend, points_per_hz=points_per_hz,
        ar_order=ar_order, vlf=tuple(vlf), lf=tuple(lf), hf=tuple(hf),
        min_band_cycles=min_band_cycles)
    nlp = _nonlinear_parameters(dfa_short, dfa_long, sampen_m, sampen_r)
    t = np.cumsum(rr) / 1000.0
    total = float(t[-1]) if rr.size else 0.0
    count = math.floor((total - window_s) / step_s + 1e-9) + 1 if total >= window_s else 0
    starts = np.arange(count) * step_s
    first = np.searchsorted(t, starts, side="left")
    last = np.searchsorted(t, starts + window_s, side="left")
    out = []
    for start, i, j in zip(starts.tolist(), first.tolist(), last.tolist()):
        seg = rr[i:j]
        out.append(WindowResult(
            start_s=start,
            end_s=start + window_s,
            n_beats=j - i,
            time=_time_domain(seg, tp),
            frequency=_frequency_domain(seg, fp),
            nonlinear=_nonlinear(seg, nlp) if include_nonlinear else None,
        ))
    return tuple(out)
