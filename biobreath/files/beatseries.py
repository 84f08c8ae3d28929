"""Turning what a file holds into a series of beats: annotated beat times (EDF+, WFDB), an ECG
(R-peaks by :func:`biobreath.core.ecg.detect_r_peaks`), and checks on RR values read from text.

A series is ``(rr_ms, beat_time_s, artifact)``: ``rr_ms[k]`` (ms) ends at the beat
``beat_time_s[k]`` (s), so ``n`` beat times give ``n - 1`` intervals (the first beat opens the
first interval). An interval is flagged (``artifact``) unless both beats that bound it are normal:
the NN definition (an ectopic beat spoils the interval before it and the compensatory one after).
"""

from __future__ import annotations

import math

import numpy as np

from biobreath.errors import SessionFileError

BEAT_CODES = frozenset("NLRBAaJSVrFejnE/fQ?")
"""PhysioNet beat annotation codes (``N`` normal; the others are beats of other origin or
shape, paced, fusion, unclassifiable); every other code (rhythm, noise, comments) is no beat."""
NORMAL_CODE = "N"
MAX_RR_MS = 60_000.0
"""Longer intervals between annotated beats are kept but flagged (a gap in the recording)."""


def not_later(t: np.ndarray) -> np.ndarray:
    """Indices ``k`` where ``t[k + 1]`` does not come after ``t[k]``: a step back, none, or one
    that a NaN or an infinity leaves undefined (without NumPy's warning for ``inf - inf``, which
    a command would print above its one line on such a file)."""
    with np.errstate(invalid="ignore"):
        return np.flatnonzero(~(np.diff(t) > 0))


def series_from_beats(t_s: np.ndarray, normal: np.ndarray, where: str
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """RR intervals (ms), beat times (s), artifact flags and notes from beat times ``t_s`` (s,
    any order) and whether each beat is normal. Beats at the same time as the one before are
    left out (and counted in the notes); fewer than two beats is one line naming ``where``."""
    t_s = np.asarray(t_s, dtype=float)
    normal = np.asarray(normal, dtype=bool)
    order = np.argsort(t_s, kind="stable")
    t_s, normal = t_s[order], normal[order]
    notes: list[str] = []
    if t_s.size:
        keep = np.ones(t_s.size, dtype=bool)
        keep[not_later(t_s) + 1] = False
        if not keep.all():
            notes.append(f"{int((~keep).sum())} beat annotations at the same time as the one "
                         "before were left out")
            t_s, normal = t_s[keep], normal[keep]
    if t_s.size < 2:
        raise SessionFileError(f"{where}: {t_s.size} annotated beat(s); at least 2 are needed "
                               "for an RR interval")
    rr = np.diff(t_s) * 1000.0
    artifact = ~(normal[1:] & normal[:-1])
    long = rr > MAX_RR_MS
    if long.any():
        artifact |= long
        notes.append(f"{int(long.sum())} intervals longer than {MAX_RR_MS / 1000:g} s (gaps "
                     "between annotated beats) are flagged as artifacts")
    if (~normal).any():
        notes.append(f"{int((~normal).sum())} of {normal.size} beats are not normal (not 'N'); "
                     "the intervals next to them are flagged as artifacts")
    return rr, t_s[1:], artifact, tuple(notes)


def series_from_ecg(t_s: np.ndarray, uv: np.ndarray, fs_hz: float, where: str, channel: str
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """RR intervals (ms), beat times (s), artifact flags and notes from an ECG (``uv`` in µV at
    sample times ``t_s``, nominal rate ``fs_hz``): R-peaks by biobreath's detector. Intervals
    that span a gap in the samples are flagged."""
    t_s = np.asarray(t_s, dtype=float)
    uv = np.asarray(uv, dtype=float)
    ok = np.isfinite(uv)
    if not ok.all():
        t_s, uv = t_s[ok], uv[ok]
    if uv.size < 2 * fs_hz:
        raise SessionFileError(f"{where}: ECG channel {channel!r} has {uv.size} samples, too few "
                               "to find heartbeats in (at least 2 s are needed)")
    from biobreath.core.ecg import detect_r_peaks  # SciPy: loaded only for an ECG

    peaks = detect_r_peaks(t_s, uv, fs_hz)
    if len(peaks) < 2:
        raise SessionFileError(f"{where}: no heartbeats found in ECG channel {channel!r} (flat, "
                               "noise, or not an ECG)")
    pt = peaks.t
    rr = np.diff(pt) * 1000.0
    gaps = t_s[1:][np.diff(t_s) > 1.0 / fs_hz + 0.1]  # first sample after each gap
    spans_gap = np.searchsorted(gaps, pt[1:]) > np.searchsorted(gaps, pt[:-1])
    snr = peaks.snr
    notes = [f"beats are R-peaks that biobreath's ECG detector found in channel {channel!r} "
             f"({pt.size} peaks, {'inverted' if peaks.polarity < 0 else 'upright'} R waves"
             + (f", signal-to-noise {snr:.0f}" if math.isfinite(snr) else "") + ")"]
    if spans_gap.any():
        notes.append(f"{int(spans_gap.sum())} intervals span a gap in the ECG and are flagged as "
                     "artifacts")
    return rr, pt[1:], spans_gap, tuple(notes)


def check_rr(values_ms: np.ndarray, lines: np.ndarray, where: str, what: str = "RR",
             at: str = "line {}") -> None:
    """One line naming ``where`` and the place of the first value of ``values_ms`` (ms) that
    cannot be an RR interval (not finite, not positive, or outside 1 ms to 60 s): ``at`` with
    its entry of ``lines`` (a line number, a message or item number)."""
    values_ms = np.asarray(values_ms, dtype=float)
    for bad, why in ((~np.isfinite(values_ms), "is not a finite number"),
                     (values_ms <= 0, "ms is not a positive RR interval"),
                     ((values_ms < 1.0) | (values_ms > MAX_RR_MS),
                      "ms cannot be an RR interval (1 ms to 60 s)")):
        k = np.flatnonzero(bad)
        if k.size:
            raise SessionFileError(f"{where}: {at.format(lines[k[0]])}: {what} "
                                   f"{values_ms[k[0]]:g} {why}")
