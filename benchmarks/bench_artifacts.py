"""Artifact detection and correction: biobreath against NeuroKit2's Lipponen & Tarvainen.

Plain script, not a test: ``python benchmarks/bench_artifacts.py`` (needs ``neurokit2``, which
is not a biobreath dependency). Both run the same method with the paper's constants (c1 0.13,
c2 0.17, alpha 5.2, 91-beat quartile window, 11-beat median) on the synthetic series of
``tests/test_artifacts.py``: RR rounded to whole ms (beat times of a 1 kHz ECG), with 1, 3 and 5 %
of beats made missed, extra or ectopic.

Columns: sensitivity (injected artifacts with a flagged interval), false alarms (flagged intervals
that no artifact touched, % of beats), both from the first detection pass on the corrupted
series; RMSSD error of the corrected series against the clean one; time for detect + iterated
correction (best of 3). NeuroKit2's ``signal_fixpeaks(method="kubios")`` works on peak positions:
its artifact at peak ``k`` is our interval ``k - 1``. Then the live detector: its scores, and
its time per beat early and late in a long recording (it must not grow with history).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from test_artifacts import (  # noqa: E402
    Injected,
    causal_kinds,
    inject,
    rmssd,
    score,
    synthetic_rr,
)

from biobreath.core.artifacts import (  # noqa: E402
    CausalDetector,
    apply_verdicts,
    correct,
    detect,
)

N_BEATS = 20_000
SEEDS = (1, 2, 3)
FRACTIONS = (0.0, 0.01, 0.03, 0.05)


def rounded(rr: np.ndarray) -> np.ndarray:
    """RR (ms) between beat times rounded to whole ms, and the beat times (ms, first at 0)."""
    peaks = np.round(np.concatenate(([0.0], np.cumsum(rr))))
    return np.diff(peaks), peaks.astype(np.int64)


def best_time(fn, repeats: int = 3):
    """(best wall time in s, the last result)."""
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def ours(rr: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(first-pass kinds, corrected RR ms, seconds)."""
    seconds, result = best_time(lambda: correct(rr))
    return result.detection.kinds, result.rr_ms, seconds


def neurokit(peaks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    import neurokit2 as nk

    def run(iterative: bool):
        return nk.signal_fixpeaks(peaks, sampling_rate=1000, iterative=iterative, method="kubios")

    seconds, (_, corrected) = best_time(lambda: run(True))
    # With iteration, the indices returned refer to the last pass's input; the first pass's
    # refer to ours.
    info, _ = run(False)
    kinds = np.zeros(peaks.size - 1, dtype=np.int8)
    for key in ("ectopic", "missed", "extra", "longshort"):
        idx = np.asarray(info[key], dtype=int) - 1
        kinds[idx[idx >= 0]] = 1
    return kinds, np.diff(corrected).astype(float), seconds


def main() -> None:
    rows = []
    for fraction in FRACTIONS:
        for seed in SEEDS:
            clean_rr, _ = rounded(synthetic_rr(N_BEATS, seed))
            if fraction:
                inj = inject(clean_rr, fraction, seed=seed * 100 + int(fraction * 100))
            else:
                inj = Injected(clean_rr, [], [])
            rr, peaks = rounded(inj.rr)
            for name, (kinds, fixed, seconds) in (("biobreath", ours(rr)),
                                                  ("neurokit2", neurokit(peaks))):
                sens, fa = score(kinds, inj) if inj.spans else (np.nan, np.mean(kinds != 0))
                err = rmssd(fixed) / rmssd(clean_rr) - 1
                rows.append((fraction, seed, name, sens, fa, err, seconds))

    print(f"{N_BEATS} beats per series, seeds {SEEDS}; mean (worst) over seeds\n")
    print(f"{'artifacts':>9}  {'method':<10} {'sensitivity %':>18} {'false alarms %':>18}"
          f" {'RMSSD error %':>18} {'time ms':>14}")
    for fraction in FRACTIONS:
        for name in ("biobreath", "neurokit2"):
            r = np.array([row[3:] for row in rows if row[0] == fraction and row[2] == name])
            sens, fa, err, sec = r.T * np.array([[100], [100], [100], [1000]])
            sens_txt = (f"{np.mean(sens):8.2f} ({np.min(sens):6.2f})" if fraction
                        else f"{'-':>17}")
            print(f"{fraction * 100:8.0f}%  {name:<10} {sens_txt:>18}"
                  f" {np.mean(fa):8.3f} ({np.max(fa):6.3f})"
                  f" {np.mean(err):+8.2f} ({err[np.argmax(np.abs(err))]:+6.2f})"
                  f" {np.mean(sec):8.0f} ({np.max(sec):4.0f})")

    print("\nLive detector (CausalDetector, verdict two beats late), same series:")
    print(f"{'artifacts':>9}  {'sensitivity %':>14} {'false alarms %':>15} {'RMSSD error %':>14}"
          "  (one correction pass)")
    for fraction in FRACTIONS[1:]:
        res = []
        for seed in SEEDS:
            clean_rr, _ = rounded(synthetic_rr(N_BEATS, seed))
            inj = inject(clean_rr, fraction, seed=seed * 100 + int(fraction * 100))
            kinds = causal_kinds(inj.rr)
            sens, fa = score(kinds, inj)
            err = rmssd(apply_verdicts(inj.rr, kinds).rr_ms) / rmssd(clean_rr) - 1
            res.append((sens * 100, fa * 100, err * 100))
        sens, fa, err = np.array(res).T
        print(f"{fraction * 100:8.0f}%  {np.mean(sens):14.2f} {np.mean(fa):15.3f}"
              f" {np.mean(err):+14.2f}")

    n_long = 100_000
    rr = inject(synthetic_rr(n_long, 9), 0.03, seed=9).rr.tolist()
    det = CausalDetector()
    per_beat = []
    for start in range(0, len(rr) - 999, 1000):
        t0 = time.perf_counter()
        for x in rr[start:start + 1000]:
            det.push(x)
        per_beat.append((time.perf_counter() - t0) / 1000 * 1e6)
    print(f"\nLive detector time per beat over {len(per_beat)} blocks of 1000 beats: first "
          f"{per_beat[0]:.1f} us, last {per_beat[-1]:.1f} us, median {np.median(per_beat):.1f} us,"
          f" worst {max(per_beat):.1f} us")
    t_fix, fixed = best_time(lambda: correct(np.asarray(rr)), repeats=1)
    t_detect, _ = best_time(lambda: detect(np.asarray(rr)), repeats=1)
    print(f"Offline, {len(rr)} beats: detect {t_detect:.2f} s; detect + correct {t_fix:.2f} s"
          f" ({fixed.iterations} passes)")


if __name__ == "__main__":
    main()
