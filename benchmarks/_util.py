"""Small helpers shared by the benchmark scripts (figures only, never pass/fail)."""

from __future__ import annotations

import numpy as np


def percentiles_ms(seconds: list[float] | np.ndarray) -> tuple[float, float]:
    """Median and p99 of durations given in seconds, in milliseconds."""
    a = np.asarray(seconds) * 1000.0
    return float(np.median(a)), float(np.percentile(a, 99))
