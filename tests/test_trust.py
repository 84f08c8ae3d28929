"""Replay equals live, signals end a session cleanly, and bad command lines get one line.

Replays are compared with what the live session published, report by report (``repr`` keeps
every float exact and compares NaN as text). Time-dependent runs use the virtual-time loop or
``--speed max``; the subprocess tests wait for the program's own output, never for the wall clock.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from biobreath.clock import ScaledClock
from biobreath.core.pacer import Pacer
from biobreath.errors import RecordingError
from biobreath.files.protocols import load_protocol
from biobreath.files.recording import read_session
from biobreath.session import Session, SessionListener
from biobreath.session.recorder import RecordingListener
from biobreath.sim.physiology import SimParams
from biobreath.sim.source import SimulatedStrap
from biobreath.sim.virtual_source import open_virtual_straps
from biobreath.sim.virtual_time import VirtualTimeLoop, loop_clock
from biobreath.sources.replay import ReplaySource


class Published(SessionListener):
    """Everything a session publishes, as exact text."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def on_breath(self, report) -> None:
        self.lines.append(repr(report))

    def on_coherence(self, device, result) -> None:
        self.lines.append(f"coherence {device} {result!r}")

    def on_breathing(self, device, estimate) -> None:
        self.lines.append(f"breathing {device} {estimate.t!r} {estimate.rate_bpm!r}")

    def on_end(self, summary) -> None:
        self.lines.append(repr(dataclasses.replace(summary, path="")))  # a replay saves nothing


def _replay(path: Path) -> list[str]:
    data = read_session(path)
    published = Published()
    session = Session(ReplaySource(data), ScaledClock(None), Pacer(data.protocol()),
                      duration_s=data.planned_duration_s, listeners=[published])
    asyncio.run(session.run())
    return published.lines


def _run_virtual_time(coro):
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(coro)


@pytest.mark.parametrize("seed,seconds", [(1, 240.0), (7, 150.0)])
def test_replay_of_a_simulated_session_publishes_what_live_did(tmp_path, seed, seconds):
    path = tmp_path / "s.sqlite"
    pacer = Pacer(load_protocol("coherence"))
    live = Published()
    session = Session(SimulatedStrap(SimParams(seed=seed, ectopic_rate=0.01), pacer),
                      ScaledClock(None), pacer, duration_s=seconds,
                      listeners=[RecordingListener(path), live])
    asyncio.run(session.run())
    assert sum(line.startswith("BreathReport") for line in live.lines) >= seconds / 12
    assert _replay(path) == live.lines


def test_replay_equals_live_when_the_clock_moved_on_without_beats(tmp_path):
    """At a set speed the session also moves on when a breath ends with no beat arriving (a
    Tick); on the virtual-time loop that happens deterministically, and replay repeats it."""
    path = tmp_path / "t.sqlite"

    async def main():
        pacer = Pacer(load_protocol("coherence"))
        live = Published()
        session = Session(SimulatedStrap(SimParams(seed=3), pacer), loop_clock(), pacer,
                          duration_s=120.0, listeners=[RecordingListener(path), live])
        await session.run()
        return live.lines

    live = _run_virtual_time(main())
    with sqlite3.connect(path) as db:
        ticks = db.execute("SELECT COUNT(*) FROM events WHERE kind = 'tick'").fetchone()[0]
    assert ticks > 0
    assert _replay(path) == live


def test_replay_of_a_virtual_polar_h10_keeps_its_ecg_acc_and_measured_breathing(tmp_path):
    path = tmp_path / "v.sqlite"

    async def main():
        pacer = Pacer(load_protocol("coherence"))
        live = Published()
        source = open_virtual_straps(sim_params=SimParams(seed=2), pacer=pacer)
        session = Session(source, loop_clock(), pacer, duration_s=150.0,
                          listeners=[RecordingListener(path), live])
        await session.run()
        return live.lines

    live = _run_virtual_time(main())
    assert any(line.startswith("breathing") for line in live)
    assert any("following_score=" in line and "following_score=nan" not in line for line in live)
    assert _replay(path) == live


class _FailOnBeat(SessionListener):
    """A listener whose storage fills up at the ``n``-th beat."""

    def __init__(self, n: int) -> None:
        self.n, self.ended = n, None

    def on_beat(self, device, verdict, state) -> None:
        self.n -= 1
        if self.n == 0:
            raise RecordingError("disk full while recording to test: the session was stopped")

    def on_end(self, summary) -> None:
        self.ended = summary


def test_a_failing_listener_ends_the_session_and_the_recording_stays_readable(tmp_path):
    path = tmp_path / "f.sqlite"
    pacer = Pacer(load_protocol("coherence"))
    failing = _FailOnBeat(100)
    session = Session(SimulatedStrap(SimParams(seed=4), pacer), ScaledClock(None), pacer,
                      duration_s=600.0, listeners=[RecordingListener(path), failing])
    with pytest.raises(RecordingError):
        asyncio.run(session.run())
    assert failing.ended is not None and failing.ended.path == str(path)
    data = read_session(path)
    assert data.complete and 100 <= data.rr_ms.size < 200


def _cli(*args: str, cwd: Path, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-m", "biobreath", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, **kw)


def test_cli_replay_prints_the_live_breath_lines(tmp_path):
    live = _cli("train", "--headless", "--speed", "max", "--duration", "180", "--sim-seed", "4",
                "--out", "h.session", cwd=tmp_path)
    assert live.returncode == 0, live.stderr
    replay = _cli("replay", "h.session", "--headless", "--speed", "max", cwd=tmp_path)
    assert replay.returncode == 0, replay.stderr
    # Where it was saved and how it compares with the person's practice are the recording's.
    lines = [line for line in live.stdout.splitlines()
             if not line.startswith(("# recorded", "# progress"))]
    assert len(lines) > 15 and replay.stdout.splitlines() == lines


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_ends_a_headless_session_with_its_summary(tmp_path, signum):
    env = dict(os.environ)
    proc = subprocess.Popen(
        [sys.executable, "-m", "biobreath", "train", "--headless", "--speed", "50",
         "--duration", "3600", "--out", "sig.session"], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()  # the safety line, then the table header: running
        head = proc.stdout.readline()
        assert "gently" in first and "coherence" in head
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signum, err
    assert err == ""
    assert "# recorded to sig.session" in out and "# session " in out
    data = read_session(tmp_path / "sig.session")
    assert data.complete and data.meta["duration_s"] < 3600


def test_a_signal_closes_the_window_and_its_session(qtbot, tmp_path, capsys):
    from biobreath.ui.window import run_window

    path = tmp_path / "w.sqlite"

    class SignalAfterBeats(SessionListener):
        n = 0

        def on_beat(self, device, verdict, state) -> None:
            self.n += 1
            if self.n == 30:
                os.kill(os.getpid(), signal.SIGUSR1)

    def make(protocol):
        pacer = Pacer(protocol)
        return Session(SimulatedStrap(SimParams(seed=6), pacer), ScaledClock(200.0), pacer,
                       duration_s=3600.0,
                       listeners=[RecordingListener(path), SignalAfterBeats()])

    from biobreath.ui.window import TrainerWindow

    original_init = TrainerWindow.__init__

    def autostart(self, *a, **kw):
        original_init(self, *a, **kw)
        asyncio.get_event_loop().call_soon(self.start)

    TrainerWindow.__init__ = autostart
    try:
        rc = run_window(make, load_protocol("coherence"), stop_signals=(signal.SIGUSR1,))
    finally:
        TrainerWindow.__init__ = original_init
    assert rc == 128 + signal.SIGUSR1
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
    assert f"# recorded to {path}" in capsys.readouterr().out
    data = read_session(path)
    assert data.complete and data.rr_ms.size >= 30


@pytest.mark.parametrize("args,says", [
    (["train", "--sim-seed", "-1"], "--sim-seed"),
    (["train", "--headless", "--duration", "1e12", "--speed", "max"], "24 h"),
    (["train", "--duration", "nan"], "--duration"),
    (["train", "--headless", "--screenshot", "x.png"], "cannot go with --headless"),
    (["train", "--screenshot", "exists.png"], "already exists"),
    (["train", "--headless", "--out", "exists.png"], "already exists"),
    (["train", "--headless", "--source", "sim", "--device", "AA:BB"], "--source ble"),
    (["train", "--headless", "--speed", "0"], "speed"),
    (["analyze", "exists.png", "--plot", "exists.png"], "already exists"),
    (["analyze", "missing.txt"], "no such file"),
    (["replay", "exists.png", "--headless"], "not a biobreath session file"),
])
def test_bad_command_lines_get_one_line_and_a_nonzero_exit(tmp_path, args, says):
    (tmp_path / "exists.png").write_bytes(b"\x89PNG keep me")
    result = _cli(*args, cwd=tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr and says in lines[-1]
    assert len([line for line in lines if not line.startswith(("usage:", " "))]) == 1
    assert (tmp_path / "exists.png").read_bytes() == b"\x89PNG keep me"


def test_names_cannot_inject_terminal_lines_or_escapes(tmp_path):
    hostile = "bad\x1b[2J\n# coherence mean 99.txt"
    (tmp_path / hostile).write_text("800\n810\n" * 200)
    result = _cli("analyze", hostile, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\\x1b[2J\\n# coherence mean 99.txt" in result.stdout
    assert not any(line.startswith("# coherence") for line in result.stdout.splitlines())
    missing = _cli("analyze", hostile + "-gone", cwd=tmp_path)
    assert missing.stderr.count("\n") == 1 and "\x1b" not in missing.stderr


def test_a_file_name_that_is_not_utf8_is_shown_not_a_traceback(tmp_path):
    name = os.fsdecode(b"caf\xe9.txt")
    (tmp_path / name).write_text("800\n810\n" * 200)
    env = dict(os.environ, PYTHONIOENCODING="utf-8:strict", LC_ALL="C.UTF-8")
    result = subprocess.run([sys.executable, "-m", "biobreath", "analyze", name], cwd=tmp_path,
                            env=env, capture_output=True, timeout=120)
    assert result.returncode == 0 and b"Traceback" not in result.stderr
    assert b"caf\\udce9.txt" in result.stdout or b"caf\\xe9.txt" in result.stdout


def test_json_output_stays_json_with_a_hostile_name(tmp_path):
    hostile = "x\n\x1b.txt"
    (tmp_path / hostile).write_text("800\n810\n" * 200)
    result = _cli("analyze", "--json", hostile, cwd=tmp_path)
    assert result.returncode == 0
    assert json.loads(result.stdout)["file"] == hostile


def test_marks_are_recorded_in_their_place_and_replayed_there(tmp_path):
    """A mark made while the session waits for the strap is taken at once, at the session's
    time, recorded among the strap's events, and a replay publishes it at the same point."""
    path = tmp_path / "m.sqlite"

    class Marks(Published):
        def on_event(self, ev) -> None:
            if type(ev).__name__ == "Marker":
                self.lines.append(repr(ev))

    async def main():
        pacer = Pacer(load_protocol("coherence"))
        live = Marks()
        session = Session(SimulatedStrap(SimParams(seed=2), pacer), loop_clock(), pacer,
                          duration_s=90.0, listeners=[RecordingListener(path), live])
        loop = asyncio.get_running_loop()
        loop.call_later(30.25, session.mark, "grounding started")
        loop.call_later(61.5, session.mark, "")
        # A note typed after the key was pressed keeps the moment of the key.
        loop.call_later(75.0, session.mark, "noted later", 70.5)
        summary = await session.run()
        return live.lines, summary

    live, summary = _run_virtual_time(main())
    assert [(round(m.t, 6), m.text) for m in summary.markers] == [
        (30.25, "grounding started"), (61.5, ""), (70.5, "noted later")]
    data = read_session(path)
    again = Marks()
    session = Session(ReplaySource(data), ScaledClock(None), Pacer(data.protocol()),
                      duration_s=data.planned_duration_s, listeners=[again])
    asyncio.run(session.run())
    assert again.lines == live
    assert sum(line.startswith("Marker(") for line in live) == 3
