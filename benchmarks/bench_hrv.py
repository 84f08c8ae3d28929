"""In-process timing of biobreath.core.hrv on a synthetic 24-hour recording (a script, not a test).

Every figure here is measured inside this one Python process, after the imports: it is the cost
of the computation alone. What a user waits for (interpreter start, imports, reading the file,
artifacts, coherence) is measured whole-process by ``benchmarks/bench_cli.py``.

Prints: the full analysis of ~100 000 beats (target < 2 s), 5-minute windows every 30 s over
24 h (target < 5 s), time + frequency domain against NeuroKit2's ``hrv_time`` +
``hrv_frequency`` on the same beats, both in this process (target >= 20x faster), and VLF against
NeuroKit2's on a 60-minute record (both remove each Welch segment's slow offset from the VLF
band; NeuroKit2 skipped when not installed: it is a benchmark-only dependency). Run from the
repository root: ``python -m benchmarks.bench_hrv``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from biobreath.core import hrv

IN = "(in-process)"


def moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """``np.convolve(x, np.ones(width) / width, "same")`` through a running sum: O(n) rather
    than O(n x width), so that generating several days of beats takes a moment."""
    c = np.concatenate(([0.0], np.cumsum(x)))
    i = np.arange(x.size)
    # "same" centres the kernel at (width - 1) // 2: sample i averages x[i - width + 1 + off ...].
    off = (width - 1) // 2
    lo = np.clip(i + off - width + 1, 0, x.size)
    hi = np.clip(i + off + 1, 0, x.size)
    return (c[hi] - c[lo]) / width


def synthetic_day(seed: int = 0, hours: float = 24.0) -> np.ndarray:
    """NN intervals (ms) of a synthetic day: day/night rhythm, VLF drift, LF and HF waves.

    Beats fire when the integral of 1/RR(t) crosses an integer (RR(t) sampled every 50 ms),
    then get 8 ms of jitter and the 1/1024 s resolution of a chest strap.
    """
    rng = np.random.default_rng(seed)
    dt = 0.05
    t = np.arange(0.0, hours * 3600.0, dt)
    circadian = 900.0 - 100.0 * np.cos(2 * np.pi * t / 86400.0)
    drift = moving_average(np.cumsum(rng.normal(0.0, 1.0, t.size)), 2000)
    drift = 40.0 * (drift - drift.mean()) / drift.std()
    rr_t = (circadian + drift + 35.0 * np.sin(2 * np.pi * 0.1 * t)
            + 25.0 * np.sin(2 * np.pi * 0.25 * t + 1.0))
    phase = np.cumsum(dt * 1000.0 / rr_t)
    beat_times = t[np.searchsorted(phase, np.arange(1, int(phase[-1])))]
    rr = np.diff(beat_times) * 1000.0 + rng.normal(0.0, 8.0, beat_times.size - 1)
    return np.round(rr * 1.024) / 1.024


def synthetic_beats(n: int, seed: int = 0) -> np.ndarray:
    """Exactly ``n`` NN intervals (ms): consecutive synthetic days (seeds ``seed``, ``seed + 1``,
    ...), each generated on its own so memory stays that of one day."""
    days: list[np.ndarray] = []
    have = 0
    while have < n:
        days.append(synthetic_day(seed + len(days)))
        have += days[-1].size
    return np.concatenate(days)[:n]


def best_of(fn, repeats: int) -> float:
    """Shortest wall time (s) of ``repeats`` calls."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    rr = synthetic_day()
    print(f"synthetic 24 h: {rr.size} beats, {rr.sum() / 3.6e6:.2f} h")

    full = best_of(lambda: hrv.analyze(rr), 3)
    print(f"analyze (time + welch + nonlinear), 24 h {IN}: {full:.2f} s  (target < 2 s)")
    for name, fn in (
        ("  time_domain", lambda: hrv.time_domain(rr)),
        ("  frequency_domain welch", lambda: hrv.frequency_domain(rr)),
        ("  frequency_domain welch + smoothness priors",
         lambda: hrv.frequency_domain(rr, detrend="smoothness_priors")),
        ("  frequency_domain ar", lambda: hrv.frequency_domain(rr, method="ar")),
        ("  nonlinear (DFA, exact SampEn)", lambda: hrv.nonlinear(rr)),
    ):
        print(f"{name} {IN}: {best_of(fn, 3):.3f} s")

    windows: tuple[hrv.WindowResult, ...] = ()

    def run_windows() -> None:
        nonlocal windows
        windows = hrv.sliding_windows(rr, 300.0, 30.0)

    sliding = best_of(run_windows, 2)
    print(f"sliding windows 300 s every 30 s, time + frequency {IN}: {len(windows)} windows in "
          f"{sliding:.2f} s  (target < 5 s)")
    with_nonlinear = best_of(lambda: hrv.sliding_windows(rr, 300.0, 30.0,
                                                         include_nonlinear=True), 1)
    print(f"  the same with nonlinear (DFA, SampEn) per window {IN}: {with_nonlinear:.2f} s "
          f"(no target)")

    try:
        import neurokit2 as nk
    except ImportError:
        print("NeuroKit2 is not installed: comparisons skipped (pip install neurokit2)")
        return
    five_min = rr[: int(np.searchsorted(np.cumsum(rr), 300_000.0))]
    for label, beats, repeats in (("24 h", rr, 1), ("5 min", five_min, 5)):
        peaks = np.concatenate(([0], np.cumsum(beats).round().astype(np.int64)))

        def neurokit(peaks: np.ndarray = peaks) -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                nk.hrv_time(peaks, sampling_rate=1000)
                nk.hrv_frequency(peaks, sampling_rate=1000)

        ours = best_of(lambda beats=beats: (hrv.time_domain(beats),
                                            hrv.frequency_domain(beats)), 5)
        theirs = best_of(neurokit, repeats)
        print(f"time + frequency domain, {label} ({beats.size} beats), both {IN}: biobreath "
              f"{ours * 1e3:.1f} ms, NeuroKit2 {nk.__version__} {theirs * 1e3:.0f} ms: "
              f"{theirs / ours:.0f}x faster  (target >= 20x)")

    # VLF on a record of many Welch segments. NeuroKit2's band starts at 0.0033 Hz (so its Welch
    # segments' slow offsets stay out of it), ours removes each segment's mean: the two should
    # agree; keeping the 0 Hz bin of the record's mean removal alone did not. The synthetic day
    # has little power between 0.004 and 0.04 Hz, so its first hour gets VLF rhythms of 20 ms
    # at 0.02 Hz and 12 ms at 0.03 Hz (taken at each beat's time).
    hour = rr[: int(np.searchsorted(np.cumsum(rr), 3_600_000.0))]
    t_hour = np.cumsum(hour) / 1000.0
    hour = (hour + 20.0 * np.sin(2 * np.pi * 0.02 * t_hour)
            + 12.0 * np.sin(2 * np.pi * 0.03 * t_hour + 1.0))
    peaks = np.concatenate(([0], np.cumsum(hour).round().astype(np.int64)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs_vlf = float(nk.hrv_frequency(peaks, sampling_rate=1000,
                                            normalize=False)["HRV_VLF"].iloc[0])
    ours_vlf = hrv.frequency_domain(hour).vlf_ms2
    before = hrv.frequency_domain(hour, welch_segment_detrend="none").vlf_ms2
    print(f"VLF, first 60 min ({hour.size} beats) {IN}: biobreath {ours_vlf:.0f} ms² "
          f"(segment means removed), NeuroKit2 {theirs_vlf:.0f} ms² (normalize=False): "
          f"{100 * (ours_vlf / theirs_vlf - 1):+.1f} %; with the record's mean removed only "
          f"{before:.0f} ms² ({100 * (before / theirs_vlf - 1):+.1f} %)")


if __name__ == "__main__":
    main()
