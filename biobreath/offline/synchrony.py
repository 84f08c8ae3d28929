"""Physiological synchrony between the people of one recording, for ``analyze --json``.

Every pair of straps of a session gets the windowed cross-correlation of their heart rates
(:mod:`biobreath.core.synchrony`) over their artifact-corrected beats.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from biobreath.core.synchrony import SynchronyParams, SynchronyResult, synchrony
from biobreath.offline.analysis import FileAnalysis

METHOD = ("windowed cross-correlation of heart rate (Boker et al. 2002): per window, the peak "
          "Pearson r over the lags after removing each segment's linear trend; r is the "
          "Fisher-z mean of the per-window peak |r|; surrogate_r is the same for segment-shifted "
          "pseudo-pairs (one person's windows against the other's from other times), which "
          "measures what a shared rhythm such as one breathing pacer and the peak-picking give "
          "by themselves; surrogate_p = share of pseudo-pairs at least as high as r")


def _num(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def pair_json(a: FileAnalysis, b: FileAnalysis, result: SynchronyResult) -> dict[str, Any]:
    """One pair's figures; NaN becomes null."""
    return {"a": a.whose(), "b": b.whose(), "r": _num(result.r), "lag_s": _num(result.lag_s),
            "in_phase_pct": _num(result.in_phase_pct), "zero_lag_r": _num(result.zero_lag_r),
            "n_windows": result.n_windows, "surrogate_r": _num(result.surrogate_r),
            "surrogate_p": _num(result.surrogate_p), "n_surrogates": result.n_surrogates}


def session_synchrony(analyses: Sequence[FileAnalysis],
                      params: SynchronyParams = SynchronyParams()) -> dict[str, Any] | None:
    """The ``synchrony`` object for the analyses of one file's people (one per strap): every
    pair, the method and its parameters; None when the file holds fewer than two straps."""
    people = [a for a in analyses if a.device is not None]
    if len(people) < 2:
        return None
    pairs = [pair_json(a, b, synchrony(a.nn_time_s, a.nn_ms, b.nn_time_s, b.nn_ms,
                                       params=params))
             for a, b in itertools.combinations(people, 2)]
    return {"pairs": pairs, "method": METHOD, "parameters": asdict(params)}
