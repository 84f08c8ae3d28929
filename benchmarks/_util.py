"""Small helpers shared by the benchmark scripts (figures only, never pass/fail)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np


def percentiles_ms(seconds: list[float] | np.ndarray) -> tuple[float, float]:
    """Median and p99 of durations given in seconds, in milliseconds."""
    a = np.asarray(seconds) * 1000.0
    return float(np.median(a)), float(np.percentile(a, 99))


def user_env(root: Path) -> dict[str, str]:
    """The environment for timing a command as a user runs it, after compiling the package's
    bytecode as ``pip install`` does. Without this, a machine that sets
    ``PYTHONDONTWRITEBYTECODE`` (as ours does) compiles every module from source in every run,
    about 0.2 s that no installed copy pays."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(root / "biobreath")],
                   check=True)
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env
