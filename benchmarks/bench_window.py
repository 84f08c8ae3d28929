"""Frame time of the trainer window, offscreen, while a simulated session runs.

Four figures per frame: ``update_frame()`` alone; a frame as Qt shows it, ``update_frame()`` and
then the event processing that repaints what changed (the pacer every frame, the trace when it
moves a pixel or has news, labels when their text changed); the same frame in this thread's CPU
time, which other programs on a busy machine do not inflate; and ``update_frame()`` followed by
``grab()``, which renders the whole window into an image, an upper bound. The session runs on a
clock this script steps by one frame (1/60 s of session time, the live pace) before each frame,
so every frame sees the beats, coherence updates and status a live session would bring. Peers
run in the same process, frame by frame side by side so a busy machine slows them alike: the
naive one rebuilds the plot items from scratch every frame (with the same pens); "smooth pens" is
the window with each curve stroked as one antialiased polyline and an antialiased fill,
pyqtgraph's defaults.

``--spectrum`` opens the heart-rate spectrum panel in every window (it redraws with each
coherence update, every 5 s); ``--present`` lays the windows out as presentation mode does (large
figures, controls hidden, full screen) on an offscreen screen of ``--size``. The windows'
remembered settings go to a temporary file.

``--people N`` puts N simulated people (one pacer) on screen: the group view.

    python benchmarks/bench_window.py [--frames 600] [--size 1280x800] [--spectrum] [--present]
                                      [--people N]
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import qasync
from PySide6 import QtCore, QtWidgets

from biobreath.core.pacer import Pacer
from biobreath.files.protocols import load_protocol
from biobreath.session import Session
from biobreath.sim.physiology import SimParams
from biobreath.sim.source import SimulatedStrap
from biobreath.sources.base import BeatSource
from biobreath.ui import window as w
from biobreath.ui.panels import AHEAD_S, CURVE_STEP_S, PAST_S
from biobreath.ui.theme import ARTIFACT, MUTED, TEXT, set_text

FPS = 60


class SteppedClock:
    """Session time that moves only when :meth:`advance` is called (s)."""

    speed = 1.0

    def __init__(self) -> None:
        self.t = 0.0
        self._waiters: list[asyncio.Future] = []

    def now(self) -> float:
        return self.t

    def wall_delay(self, t: float) -> None:
        return None

    async def sleep_until(self, t: float) -> None:
        while self.t < t:
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            await fut

    def advance(self, dt: float) -> None:
        self.t += dt
        waiters, self._waiters = self._waiters, []
        for f in waiters:
            if not f.done():
                f.set_result(None)


class NaiveWindow(w.TrainerWindow):
    """The same window, but each frame throws the plot items away and builds new ones."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._history_curve = self.history_panel.curve  # replaced every frame

    def _draw_trace(self, session: Session, news: w.SessionNews, t: float) -> None:
        trace = self.heart_trace
        plot = trace.plot.getPlotItem()
        plot.clear()
        plot.addItem(pg.InfiniteLine(0.0, angle=90, pen=pg.mkPen(MUTED)))
        times = np.arange(t - PAST_S, t + AHEAD_S, CURVE_STEP_S)
        vol = np.nan_to_num(session.pacer.volume(np.clip(times, 0.0, None)))
        lo, hi = trace.hr_range
        y = lo + (0.04 + 0.86 * vol) * (hi - lo)
        plot.addItem(pg.PlotCurveItem(times - t, y, fillLevel=lo, pen=None, antialias=False,
                                      brush=trace.breath_fill.opts["brush"]))
        plot.addItem(_segmented(pg.PlotCurveItem(times - t, y, pen=trace.breath_curve.opts["pen"],
                                                 antialias=True)))
        core = session.primary_core
        if core is not None:
            bt, rr, art = core.recent(PAST_S + 5.0)
            hr = pg.PlotCurveItem(bt[~art] - t, 60000.0 / rr[~art], pen=trace.hr_curve.opts["pen"],
                                  antialias=True)
            plot.addItem(_segmented(hr))
            plot.addItem(pg.ScatterPlotItem(bt[art] - t, np.full(art.sum(), lo + 1.0), symbol="x",
                                            pen=pg.mkPen(ARTIFACT, width=2.5)))
            st = core.state
            set_text(trace.hr_label, f"Heart rate  {st.hr_bpm:.0f} bpm")
            set_text(trace.rmssd_label, f"RMSSD {st.rmssd_ms:.0f} ms")
        hist = self.history_panel.plot.getPlotItem()
        hist.removeItem(self._history_curve)
        self._history_curve = pg.PlotCurveItem(news.coherence_t, news.coherence_score,
                                               pen=pg.mkPen(TEXT, width=2.5), antialias=True)
        hist.addItem(self._history_curve)


class SmoothPensWindow(w.TrainerWindow):
    """The window with each curve stroked as one antialiased polyline and an antialiased fill."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        trace = self.heart_trace
        for curve in (trace.breath_curve, trace.hr_curve, trace.hr_recent):
            curve.setSegmentedLineMode("off")
        trace.breath_fill.opts["antialias"] = True


def _segmented(curve: pg.PlotCurveItem) -> pg.PlotCurveItem:
    curve.setSegmentedLineMode("on")
    return curve


SETTINGS = Path(tempfile.mkdtemp(prefix="bench-window-")) / "window.ini"


class Together(BeatSource):
    """Several simulated people on one clock, their events merged as they come (the group view
    of a session with several straps)."""

    kind = "sim"

    def __init__(self, sources: list[SimulatedStrap]) -> None:
        self.sources = sources

    @property
    def devices(self):
        return tuple(d for s in self.sources for d in s.devices)

    async def events(self, clock):
        queue: asyncio.Queue = asyncio.Queue()

        async def pump(source):
            async for ev in source.events(clock):
                await queue.put(ev)

        tasks = [asyncio.ensure_future(pump(s)) for s in self.sources]
        try:
            while True:
                yield await queue.get()
        finally:
            for task in tasks:
                task.cancel()


def _window(cls: type[w.TrainerWindow], size: tuple[int, int], spectrum: bool, present: bool,
            people: int = 1) -> tuple[w.TrainerWindow, SteppedClock]:
    clock = SteppedClock()

    def make_session(protocol):
        pacer = Pacer(protocol)
        straps = [SimulatedStrap(SimParams(seed=1 + k, ectopic_rate=0.01), pacer)
                  for k in range(people)]
        return Session(straps[0] if people == 1 else Together(straps), clock, pacer)

    win = cls(make_session, load_protocol("coherence"), autostart=False, fps=FPS,
              settings=QtCore.QSettings(str(SETTINGS), QtCore.QSettings.Format.IniFormat))
    win.show()
    win.resize(*size)
    if present:
        win.set_presenting(True)  # full screen: the offscreen screen is --size (main)
    win.show_spectrum(spectrum)
    win.start()
    win._timer.stop()  # frames are driven and timed here, not by the window's timer
    return win, clock


async def _step(clocks: list[SteppedClock], dt: float) -> None:
    """Advance every session by ``dt`` (s) and let them handle what arrived."""
    for clock in clocks:
        clock.advance(dt)
    for _ in range(30):
        await asyncio.sleep(0)


def run(classes: list[type[w.TrainerWindow]], size: tuple[int, int], frames: int,
        loop: asyncio.AbstractEventLoop, *, spectrum: bool = False, present: bool = False,
        people: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per-frame seconds of each window: update alone, update and repaint (wall and thread CPU
    time), update and grab.

    The windows run side by side, frame by frame, so a busy machine slows them alike.
    """
    pairs = [_window(cls, size, spectrum, present, people) for cls in classes]
    wins = [win for win, _ in pairs]
    shown = {(win.width(), win.height()) for win in wins}
    if shown != {size}:
        raise SystemExit(f"the windows are {shown}, not {size}: the figures would not be for it")
    clocks = [clock for _, clock in pairs]

    async def drive() -> list[tuple[np.ndarray, np.ndarray]]:
        # Two minutes of session first, so the trace is full and coherence has a history.
        while clocks[0].t < 120.0:
            await _step(clocks, 0.5)
        for _ in range(30):
            await _step(clocks, 1.0 / FPS)
            for win in wins:
                win.update_frame()
                win.grab()
        app = QtWidgets.QApplication.instance()
        out = np.empty((len(wins), 4, frames))
        for i in range(frames):
            await _step(clocks, 1.0 / FPS)
            for k, win in enumerate(wins):
                c0 = time.thread_time()
                t0 = time.perf_counter()
                win.update_frame()
                t1 = time.perf_counter()
                # Twice: the plot's scene posts its repaint request while the first pass runs.
                app.processEvents()
                app.processEvents()
                t2 = time.perf_counter()
                c2 = time.thread_time()
                win.update_frame()  # nothing moved: only the grab's cost is added
                t3 = time.perf_counter()
                win.grab()
                t4 = time.perf_counter()
                out[k, :, i] = t1 - t0, t2 - t0, c2 - c0, (t1 - t0) + (t4 - t3)
        for win in wins:
            win.stop()
            await win.task
        return list(out)

    try:
        return loop.run_until_complete(drive())
    finally:
        for win in wins:
            win.close()


def _one_screen(size: tuple[int, int]) -> str:
    """The offscreen platform with one screen of ``size`` px (its default screen is 800x800,
    which a full-screen window would take)."""
    config = SETTINGS.parent / "screen.json"
    config.write_text(json.dumps({"screens": [{"name": "bench", "x": 0, "y": 0, "width": size[0],
                                               "height": size[1], "logicalDpi": 96, "dpr": 1}]}),
                      encoding="utf-8")
    return f"offscreen:configfile={config}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--size", default="1280x800", help="window size WxH (default 1280x800)")
    ap.add_argument("--spectrum", action="store_true", help="with the spectrum panel open")
    ap.add_argument("--present", action="store_true", help="in presentation mode")
    ap.add_argument("--people", type=int, default=1,
                    help="simulated people on screen at once (the group view; default 1)")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    if os.environ["QT_QPA_PLATFORM"] == "offscreen":
        os.environ["QT_QPA_PLATFORM"] = _one_screen(size)
    app = QtWidgets.QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    print(f"trainer window {size[0]}x{size[1]}"
          + (", spectrum panel open" if args.spectrum else "")
          + (", presentation mode" if args.present else "")
          + (f", {args.people} people" if args.people > 1 else "")
          + f", {args.frames} frames at {FPS} fps of session time, Qt {QtCore.qVersion()} "
          f"platform {app.platformName()}, pyqtgraph {pg.__version__}")
    cols = ("update", "repaint", "cpu", "grab")
    print(f"{'ms':<24}" + "".join(f"{c + ' med':>12}{c + ' p99':>12}" for c in cols))
    variants = {"incremental (window.py)": w.TrainerWindow, "naive rebuild": NaiveWindow,
                "smooth pens": SmoothPensWindow}
    results = dict(zip(variants, run(list(variants.values()), size, args.frames, loop,
                                     spectrum=args.spectrum, present=args.present,
                                     people=args.people)))
    for name, times in results.items():
        cells = (f"{1e3 * np.median(x):>12.2f}{1e3 * np.percentile(x, 99):>12.2f}" for x in times)
        print(f"{name:<24}" + "".join(cells))
    ours, naive, smooth = results.values()

    def ratio(peer, k: int, q: float) -> str:
        return f"x{np.percentile(peer[k], q) / np.percentile(ours[k], q):.2f}"

    print(f"naive / incremental: update median {ratio(naive, 0, 50)}, repaint median "
          f"{ratio(naive, 1, 50)}, repaint p99 {ratio(naive, 1, 99)}")
    print(f"smooth pens / incremental: repaint median {ratio(smooth, 1, 50)}, repaint p99 "
          f"{ratio(smooth, 1, 99)}")
    p99, cpu99 = np.percentile(ours[1], 99), np.percentile(ours[2], 99)
    print(f"budget at {FPS} fps {1e3 / FPS:.1f} ms: incremental repaint p99 {1e3 * p99:.2f} ms, "
          f"{'within' if p99 < 1.0 / FPS else 'OVER'} budget (CPU time {1e3 * cpu99:.2f} ms, "
          f"{'within' if cpu99 < 1.0 / FPS else 'OVER'})")


if __name__ == "__main__":
    main()
