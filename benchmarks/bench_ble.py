"""Bluetooth path benchmarks: beat-time error, notification-to-event latency, time to resume.

Run: ``python benchmarks/bench_ble.py`` (about ten seconds). Prints:

1. Beat-time error against truth (ms): the project's strap emulator (10-60 ms latency, 20 ppm
   drift) with 0 % and 1 % lost notifications, several seeds and heart rates; median and p99 of
   |placed - true|, over everything and after the first 30 s.
2. Latency (wall µs) from the virtual strap handing a notification to bumble until the source
   yields its events through bleak, on a virtual-time loop and on an ordinary asyncio loop.
3. Time to resume (session s) after a forced 10 s outage: until ``Link(RECONNECTED)`` and until
   the first beat after it.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from biobreath.clock import ScaledClock
from biobreath.core.timing import BeatTimer
from biobreath.events import Beat, Link, LinkState, Notification
from biobreath.sim.emulator import StrapEmulator
from biobreath.sim.physiology import PhysiologyModel, SimParams
from biobreath.sim.virtual_h10 import Outage
from biobreath.sim.virtual_time import loop_clock, run_virtual
from biobreath.sources.factory import open_strap_source
from biobreath.straps.gatt import parse_heart_rate_measurement


def timing_errors(params: SimParams, duration_s: float) -> tuple[np.ndarray, np.ndarray]:
    model, strap, timer = PhysiologyModel(params), StrapEmulator(params), BeatTimer()
    errors, arrivals = [], []
    t = 0.0
    while t < duration_s:
        t += 10.0
        for n in strap.encode(model.advance(t)):
            rr = parse_heart_rate_measurement(n.payload).rr_ticks
            errors.extend(timer.place(n.arrival_s, rr).times - np.asarray(n.true_beat_times))
            arrivals.extend([n.arrival_s] * len(rr))
    return np.abs(np.asarray(errors)) * 1e3, np.asarray(arrivals)


def bench_timing() -> None:
    print("1. beat-time error vs truth (ms), strap emulator: latency 10-60 ms, 20 ppm drift, "
          "6 x 30 min per row")
    for dropout in (0.0, 0.01):
        err, late = [], []
        for seed in range(3):
            for hr in (58.0, 72.0):
                params = SimParams(seed=seed, mean_hr_bpm=hr, dropout_rate=dropout)
                e, a = timing_errors(params, 1800)
                err.append(e)
                late.append(e[a > 30])
        e, lt = np.concatenate(err), np.concatenate(late)
        print(f"   lost notifications {dropout:4.0%}: all beats median {np.median(e):5.1f} "
              f"p99 {np.percentile(e, 99):6.1f} | after 30 s median {np.median(lt):5.1f} "
              f"p99 {np.percentile(lt, 99):6.1f}  ({e.size} beats)")


async def _latency(clock, duration_s: float) -> list[float]:
    source = open_strap_source(virtual=True, sim_params=SimParams(seed=1))
    strap = source.peripherals[0]
    sent: dict[bytes, float] = {}
    stream = source.events(clock)
    latencies = []
    wrapped = False
    async for ev in stream:
        if not wrapped:
            # The strap is up once the first event arrives: time its notify calls from now on.
            original = strap.device.notify_subscriber

            async def timed(connection, attribute, value=None, force=False, original=original):
                sent[bytes(value)] = time.perf_counter()
                await original(connection, attribute, value, force)

            strap.device.notify_subscriber = timed
            wrapped = True
        if isinstance(ev, Notification) and ev.payload in sent:
            latencies.append((time.perf_counter() - sent.pop(ev.payload)) * 1e6)
        if clock.now() > duration_s:
            break
    await stream.aclose()
    return latencies


def bench_latency() -> None:
    print("2. notification -> event latency (wall µs): "
          "strap notify() -> bumble -> bleak -> source")
    lat = run_virtual(_virtual_latency())
    print(f"   virtual-time loop, 10 min:        median {statistics.median(lat):7.0f} "
          f"p99 {np.percentile(lat, 99):7.0f}  ({len(lat)} notifications)")
    t0 = time.perf_counter()
    lat = asyncio.run(_latency(ScaledClock(20.0), 60.0))
    print(f"   asyncio loop, 60 s at 20x speed:  median {statistics.median(lat):7.0f} "
          f"p99 {np.percentile(lat, 99):7.0f}  ({len(lat)} notifications, "
          f"{time.perf_counter() - t0:.1f} s wall)")


async def _virtual_latency() -> list[float]:
    return await _latency(loop_clock(), 600.0)


async def _resume(outage_at: float) -> tuple[float, float, float]:
    clock = loop_clock()
    source = open_strap_source(virtual=True, sim_params=SimParams(seed=int(outage_at)),
                               outages=[Outage(outage_at, 10.0)])
    back_at = outage_at + 10.0
    reconnected = first_beat = None
    wall = time.perf_counter()
    stream = source.events(clock)
    async for ev in stream:
        if isinstance(ev, Link) and ev.state == LinkState.RECONNECTED:
            reconnected = ev.t
        if isinstance(ev, Beat) and reconnected is not None:
            first_beat = ev.arrival
            break
    await stream.aclose()
    return reconnected - back_at, first_beat - back_at, time.perf_counter() - wall


def bench_resume() -> None:
    print("3. time to resume after a 10 s outage (session s after the strap is back)")
    rows = [run_virtual(_resume(float(t))) for t in (30, 47, 61, 95, 133)]
    link = [r[0] for r in rows]
    beat = [r[1] for r in rows]
    print(f"   to Link(RECONNECTED): median {statistics.median(link):.2f} max {max(link):.2f}")
    print(f"   to the first beat:    median {statistics.median(beat):.2f} max {max(beat):.2f}")
    print(f"   (each run: {statistics.median(r[2] for r in rows):.2f} s wall for "
          "up to 2.5 simulated minutes)")


if __name__ == "__main__":
    bench_timing()
    bench_latency()
    bench_resume()
