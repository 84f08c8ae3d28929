"""R-peaks from the Polar H10's raw ECG: error against the true beats, and against the strap's RRs.

Run: ``python benchmarks/bench_ecg.py`` (under a minute). Prints:

1. Detector alone (sample times exact): |R-peak - true beat| (ms), median and p99, on the virtual
   strap's ECG and on a harder one (noise, deep S, tall T, mains hum, strong baseline wander);
   NeuroKit2's ``ecg_peaks`` on the same signals when it is installed (it places peaks on
   samples, 7.7 ms apart at 130 Hz).
2. End to end: virtual strap -> bumble -> bleak -> :class:`~biobreath.straps.ble.BleStrap` ->
   ECG events placed on the session clock -> :func:`~biobreath.core.ecg.detect_r_peaks`: the R-peak
   error against the simulator's true beats, and the difference between the strap's own beat
   times (rebuilt from its RRs by the beat timer) and the ECG's R-peaks; after the first 20 s.
3. Speed: one hour of ECG in one call, and the live stream's cost per frame.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from biobreath.core.ecg import RPeakStream, compare_with_rr, detect_r_peaks
from biobreath.core.pacer import Pacer
from biobreath.events import Beat, EcgSamples
from biobreath.files.protocols import load_protocol
from biobreath.sim.physiology import PhysiologyModel, SimParams
from biobreath.sim.virtual_h10 import synth_ecg_uv
from biobreath.sim.virtual_time import collect_events, loop_clock, run_virtual
from biobreath.sources.factory import open_strap_source

FS = 130.0
HARD_WAVES = ((-0.17, 90.0, 0.02), (-0.03, -120.0, 0.008), (0.0, 1000.0, 0.009),
              (0.028, -500.0, 0.01), (0.24, 450.0, 0.05))


def hard_ecg(t: np.ndarray, beats: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    d = t[:, None] - beats[None, :]
    ecg = sum(a * np.exp(-0.5 * ((d - o) / w) ** 2).sum(axis=1) for o, a, w in HARD_WAVES)
    return (ecg + 400 * np.sin(2 * np.pi * 0.23 * t) + 60 * np.sin(2 * np.pi * 50 * t)
            + 40 * rng.standard_normal(t.size))


def fmt(err_ms: np.ndarray) -> str:
    a = np.abs(err_ms)
    return f"median {np.median(a):5.2f}  p99 {np.percentile(a, 99):5.2f}  max {a.max():6.2f}"


def neurokit_peaks(t: np.ndarray, uv: np.ndarray) -> np.ndarray | None:
    try:
        import neurokit2 as nk
    except ImportError:
        return None
    _, info = nk.ecg_peaks(nk.ecg_clean(uv, sampling_rate=int(FS)), sampling_rate=int(FS))
    return t[np.asarray(info["ECG_R_Peaks"], dtype=int)]


def bench_detector() -> None:
    print("1. detector alone, 3 x 10 min at 130 Hz: |R-peak - true beat| (ms)")
    for name, make in (("virtual strap ECG", None), ("harder ECG", hard_ecg)):
        ours, theirs, misses = [], [], 0
        for seed in range(3):
            beats = PhysiologyModel(SimParams(seed=seed)).advance(600.0).beat_times
            rng = np.random.default_rng(seed)
            t = rng.uniform(0, 1 / FS) + np.arange(0.0, 600.0, 1 / FS)
            if make is None:
                vol = 0.5 + 0.5 * np.sin(2 * np.pi * 0.1 * t)
                uv = np.round(synth_ecg_uv(t, beats, vol, rng.standard_normal(t.size)))
            else:
                uv = np.round(make(t, beats, rng))
            inner = beats[(beats > 2) & (beats < 598)]
            c = compare_with_rr(detect_r_peaks(t, uv, FS).t, inner)
            ours.append(c.diff_ms)
            misses += c.unmatched_beats
            nk_t = neurokit_peaks(t, uv)
            if nk_t is not None:
                theirs.append(compare_with_rr(nk_t, inner).diff_ms)
        print(f"   {name:18s} biobreath {fmt(np.concatenate(ours))}  (missed {misses})")
        if theirs:
            print(f"   {'':18s} neurokit2 {fmt(np.concatenate(theirs))}")


async def _session(seed: int, duration_s: float):
    pacer = Pacer(load_protocol("coherence"))
    clock = loop_clock()
    source = open_strap_source(virtual=True, sim_params=SimParams(seed=seed), pacer=pacer)
    return await collect_events(source, clock, duration_s), source.peripherals[0]


def bench_end_to_end() -> None:
    print("2. end to end through the virtual strap, 3 x 10 min (beats after 20 s)")
    errs, diffs, live_errs, misses = [], [], [], 0
    for seed in (1, 2, 3):
        events, strap = run_virtual(_session(seed, 600.0))
        ecg = [e for e in events if isinstance(e, EcgSamples)]
        t = np.concatenate([e.t0 + np.arange(e.uv.size) / e.fs_hz for e in ecg])
        uv = np.concatenate([e.uv for e in ecg])
        peaks = detect_r_peaks(t, uv, FS)
        truth = np.array([x for n in strap.delivered for x in n.true_beat_times])
        truth = truth[(truth > 20.0) & (truth < t[-1] - 1.0)]
        c = compare_with_rr(peaks.t, truth)
        errs.append(-c.diff_ms)
        misses += c.unmatched_beats
        stream = RPeakStream()
        live = np.concatenate([stream.push(e.t0, e.fs_hz, e.uv).t for e in ecg])
        live_errs.append(-compare_with_rr(live, truth).diff_ms)
        beats = np.array([e.t for e in events if isinstance(e, Beat)])
        inside = beats[(beats > 20.0) & (beats < t[-1] - 1.0)]
        diffs.append(compare_with_rr(peaks.t, inside).diff_ms)
    e, le, d = np.concatenate(errs), np.concatenate(live_errs), np.concatenate(diffs)
    print(f"   R-peak - true beat, whole record: {fmt(e)}  mean {e.mean():+5.2f}  "
          f"({e.size} beats, missed {misses})")
    print(f"   R-peak - true beat, live stream:  {fmt(le)}  mean {le.mean():+5.2f}")
    print(f"   strap beat time - R-peak:         median {np.median(d):+6.1f}  "
          f"p99 |.| {np.percentile(np.abs(d), 99):5.1f}  (p1 {np.percentile(d, 1):+6.1f}, "
          f"p99 {np.percentile(d, 99):+6.1f})")


def bench_speed() -> None:
    print("3. speed")
    beats = PhysiologyModel(SimParams(seed=9)).advance(3600.0).beat_times
    rng = np.random.default_rng(9)
    t = np.arange(0.0, 3600.0, 1 / FS)
    uv = np.empty(t.size)
    for k in range(0, t.size, 65000):  # in pieces: the synthesiser makes a (samples x beats) grid
        sl = slice(k, k + 65000)
        near = beats[(beats > t[sl][0] - 1) & (beats < t[sl][-1] + 1)]
        n = t[sl].size
        uv[sl] = synth_ecg_uv(t[sl], near, np.full(n, 0.5), rng.standard_normal(n))
    t0 = time.perf_counter()
    detect_r_peaks(t, uv, FS)
    print(f"   detect_r_peaks, 1 h of ECG: {time.perf_counter() - t0:.2f} s")
    stream = RPeakStream()
    n = 0
    t0 = time.perf_counter()
    for k in range(0, 600 * 130, 73):
        stream.push(float(t[k]), FS, uv[k:k + 73])
        n += 1
    print(f"   RPeakStream.push, 12 s window: {(time.perf_counter() - t0) / n * 1e3:.2f} ms "
          "per 73-sample frame (one every 0.56 s)")


if __name__ == "__main__":
    bench_detector()
    bench_end_to_end()
    bench_speed()
