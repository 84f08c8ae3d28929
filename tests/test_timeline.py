"""The replay timeline: seeking anywhere lands on exactly what the live session published up to
that moment; playing on from there ends where the live session ended; the clock, the jumps, the
bar, and the replay window scrubbed offscreen."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

import asyncio
import math
from dataclasses import dataclass

import pytest
import qasync

from biobreath.clock import ScaledClock
from biobreath.core.pacer import Pacer
from biobreath.events import Event, Marker
from biobreath.files.protocols import load_protocol
from biobreath.files.recording import read_session
from biobreath.session import Session, SessionListener
from biobreath.session.recorder import RecordingListener
from biobreath.sim.physiology import SimParams
from biobreath.sim.source import SimulatedStrap
from biobreath.ui.timeline import (
    Scrubber,
    ScrubClock,
    Timeline,
    arrival,
    landed,
)

MARKS = {8: "client described the panic", 20: "grounding started"}  # at these pacer breaths


class Published(SessionListener):
    """Everything a session published, each with the arrival time of the event it followed
    (the moment it was on screen from)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.items: list[tuple] = []

    def on_event(self, event: Event) -> None:
        self.now = max(self.now, arrival(event))  # as :func:`moments` reads a stream
        if isinstance(event, Marker):
            self.items.append((self.now, "marker", event.t, event.text))

    def on_beat(self, device, verdict, state) -> None:
        self.items.append((self.now, "beat", verdict.index, verdict.t, verdict.rr_ms,
                           verdict.artifact, state.hr_bpm, state.rmssd_ms, state.n_beats))

    def on_coherence(self, device, result) -> None:
        self.items.append((self.now, "coherence", result.t, result.score, result.peak_hz))

    def on_breath(self, report) -> None:
        self.items.append((self.now, "breath", report.n, report.hr_bpm, report.swing_bpm,
                           report.coherence_score, report.phase_deg))

    def on_status(self, status) -> None:
        self.items.append((self.now, "status", status))

    def until(self, t: float) -> list[tuple]:
        return [x for x in self.items if x[0] <= t]


class Marking(SessionListener):
    """Marks the moments of :data:`MARKS` as a therapist would."""

    def on_start(self, session) -> None:
        self.session = session

    def on_breath(self, report) -> None:
        if report.n in MARKS:
            self.session.mark(MARKS[report.n])


@dataclass
class Recorded:
    path: object
    live: Published


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    path = tmp_path_factory.mktemp("timeline") / "live.sqlite"
    pacer = Pacer(load_protocol("resonance-assessment"))
    live = Published()
    session = Session(SimulatedStrap(SimParams(seed=5, ectopic_rate=0.01), pacer),
                      ScaledClock(None), pacer, duration_s=330.0,
                      listeners=[RecordingListener(path), live, Marking()])
    asyncio.run(session.run())
    return Recorded(path, live)


def _scrubber(recorded, **kw) -> Scrubber:
    scrubber = Scrubber(read_session(recorded.path), lambda s: [Published()], **kw)
    asyncio.run(scrubber.index())
    return scrubber


def _land(session: Session) -> Published:
    """Run a session from :meth:`Scrubber.session_at` until it has landed; what it published
    by then (stopping it afterwards judges the beats still waiting, as any session's end does)."""
    published = next(li for li in session.listeners if isinstance(li, Published))

    async def main():
        task = asyncio.ensure_future(session.run())
        while not landed(session):
            await asyncio.sleep(0)
        items = list(published.items)
        session.stop()
        await task
        return items

    published.items = asyncio.run(main())
    return published


@pytest.mark.parametrize("t", [0.0, 7.3, 59.999, 60.0, 60.4, 121.0, 187.25, 329.0])
def test_seeking_lands_on_what_the_live_session_published(recorded, t):
    scrubber = _scrubber(recorded, snapshot_s=60.0)
    assert len(scrubber.snapshots) >= 5
    got = _land(scrubber.session_at(t))
    assert got.until(t) == recorded.live.until(t)
    assert got.items == got.until(t)  # nothing from after the moment


def test_seeking_back_and_forth_gives_the_same_as_each_first_time(recorded):
    scrubber = _scrubber(recorded, snapshot_s=45.0)
    for t in (250.0, 30.0, 250.0, 91.5):
        assert _land(scrubber.session_at(t)).items == recorded.live.until(t)


def test_playing_on_from_a_moment_ends_as_the_live_session_did(recorded):
    scrubber = _scrubber(recorded)
    session = scrubber.session_at(150.0, rate=None, playing=True)
    summary = asyncio.run(session.run())
    got = next(li for li in session.listeners if isinstance(li, Published))
    assert got.items == recorded.live.items
    assert summary.n_beats == sum(1 for x in recorded.live.items if x[1] == "beat")
    assert [m.text for m in summary.markers] == list(MARKS.values())


def test_markers_and_steps_are_the_jumps(recorded):
    scrubber = _scrubber(recorded)
    marks = [m.t for m in scrubber.markers]
    assert [m.text for m in scrubber.markers] == list(MARKS.values())
    assert scrubber.steps == [0.0, 120.0, 240.0]  # baseline, 6.5 and 6.0 breaths/min
    stops = sorted(marks + [120.0, 240.0])
    t, seen = 0.0, []
    while (t := scrubber.jumps(t, 1)) is not None:
        seen.append(t)
    assert seen == stops
    assert scrubber.jumps(330.0, -1) == stops[-1] and scrubber.jumps(0.5, -1) is None


def test_scrub_clock_stands_plays_and_changes_speed():
    wall = [100.0]
    clock = ScrubClock(50.0, monotonic=lambda: wall[0])
    assert clock.now() == 50.0 and clock.wall_delay(49.0) == 0.0 and clock.wall_delay(51) is None
    wall[0] += 10
    assert clock.now() == 50.0  # paused
    clock.play()
    wall[0] += 2
    assert clock.now() == 52.0 and clock.wall_delay(53.0) == pytest.approx(1.0)
    clock.set_rate(10.0)
    wall[0] += 1
    assert clock.now() == 62.0 and clock.wall_delay(72.0) == pytest.approx(1.0)
    clock.pause()
    wall[0] += 5
    assert clock.now() == 62.0
    fast = ScrubClock(5.0, rate=None, playing=True)
    assert fast.speed is None and fast.wall_delay(1e9) == 0.0
    with pytest.raises(ValueError):
        ScrubClock(0.0, rate=0.0)


def test_a_paused_clock_wakes_its_sleeper_when_played():
    async def main():
        clock = ScrubClock(0.0, rate=None)
        sleeper = asyncio.ensure_future(clock.sleep_until(3.0))
        await asyncio.sleep(0)
        assert not sleeper.done()
        clock.play()
        await asyncio.wait_for(sleeper, 1.0)

    asyncio.run(main())


def test_the_bar_seeks_where_it_is_clicked(qtbot):
    timeline = Timeline()
    qtbot.addWidget(timeline)
    timeline.resize(900, 50)
    timeline.show()
    timeline.bar.set_recording(600.0, [Marker(90.0, "x")], [0.0, 300.0])
    asked = []
    timeline.seek_requested.connect(asked.append)
    bar = timeline.bar
    x = bar._x(450.0)
    qtbot.mouseClick(bar, qasync.QtCore.Qt.MouseButton.LeftButton,
                     pos=qasync.QtCore.QPoint(round(x), bar.height() // 2))
    assert asked and asked[0] == pytest.approx(450.0, abs=600.0 / bar.width())
    speeds = []
    timeline.speed_chosen.connect(speeds.append)
    timeline.speed_box.setCurrentIndex(timeline.speed_box.findText("60×"))
    timeline.set_speed(None)
    assert speeds == [60.0, None] and timeline.speed is None


# -- the window ---------------------------------------------------------------------------------




def _wait(loop, condition, timeout_s: float = 10.0) -> None:
    """Run the event loop until ``condition()`` holds (a Qt wait would not run asyncio's)."""
    async def until():
        while not condition():
            await asyncio.sleep(0.005)

    loop.run_until_complete(asyncio.wait_for(until(), timeout_s))


def test_the_replay_window_shows_the_live_values_where_it_is_sent(loop, recorded, tmp_path,
                                                                  replay_window):
    window, scrub = replay_window(recorded.path)
    live = recorded.live
    for t in (200.0, 95.0, 250.0):
        scrub.seek(t)
        _wait(loop, lambda t=t: window.session.clock.now() == t and landed(window.session))
        loop.run_until_complete(asyncio.sleep(0.05))  # a few frames
        scores = [x for x in live.until(t) if x[1] == "coherence" and math.isfinite(x[3])]
        beat = [x for x in live.until(t) if x[1] == "beat"][-1]
        assert window.score_panel.score_label.text() == f"{scores[-1][3]:.0f}"
        assert f"{beat[6]:.0f} bpm" in window.heart_trace.hr_label.text()
        assert window.history_panel.curve.getData()[1].size == len(scores)
        assert scrub.timeline.time_label.text().startswith(
            f"{int(t // 60)}:{int(t % 60):02d} /")
        shown = [m.text for m in window.heart_trace.markers]
        assert shown == [x[3] for x in live.until(t) if x[1] == "marker"]
        # A marker's text goes with its line, also when the line came into view at the seek.
        placed = [line.label.pos() for _, line in window.heart_trace._markers
                  if line.isVisible()]
        assert all(math.isfinite(p.x()) and math.isfinite(p.y()) for p in placed)
    window.save_screenshot(tmp_path / "replay.png")
    window.session.stop()
    loop.run_until_complete(window.task)


def test_replay_command_plays_to_the_end_in_the_window(recorded, tmp_path):
    import subprocess
    import sys

    png = tmp_path / "end.png"
    done = subprocess.run([sys.executable, "-m", "biobreath", "replay", str(recorded.path),
                           "--speed", "max", "--screenshot", str(png)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    # The window saves its picture when the replay has ended, and then quits.
    assert done.returncode == 0, done.stderr
    assert png.stat().st_size > 10_000 and not done.stderr
