"""A person's history and progress: sessions indexed as they end and rebuilt from the files,
check-ins, the ``history`` command, minutes per week, streaks and the comparison sentence."""

import json
import math
import os
import sqlite3
import subprocess
import sys
from argparse import Namespace
from datetime import UTC, date, timedelta, timezone

import pytest

from biobreath.cli import main
from biobreath.cli.session import _auto_source
from biobreath.events import DeviceInfo
from biobreath.files.people import Checkin, People, SessionEntry
from biobreath.files.recording import Recorder, read_session
from biobreath.offline.progress import (
    checkin_change,
    checkin_sentence,
    compare_with_recent,
    rebuild_index,
    session_entry,
    streak_days,
    weekly_minutes,
)

JSON_KEYS = {"person", "started_utc", "file", "protocol", "minutes", "coherence_mean",
             "hr_swing_bpm", "before", "after", "note"}


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOBREATH_DATA_DIR", str(tmp_path))
    return tmp_path


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def train(capsys, *extra, duration=150):
    """A simulated session on a virtual clock, recorded and indexed."""
    code, out, err = _run(capsys, "train", "--headless", "--source", "sim", "--speed", "max",
                          "--duration", duration, *extra)
    assert code == 0, err
    return out, err


def synthetic_recording(path, *, kind="ble", person="Anna", seconds=300.0, swing_ms=80.0,
                        close=True):
    """A recording of a heart that beats exactly with a 10 s breath: RR = 1000 ms + ``swing_ms``
    x sin(2 pi 0.1 t); breath events every 10 s (4 s in, 6 s out)."""
    rec = Recorder(path)
    rec.set_meta(source={"kind": kind},
                 protocol={"name": "coherence", "file": None, "allow_extreme_pacing": False,
                           "steps": [{"label": "", "duration_s": seconds, "inhale_s": 4.0,
                                      "exhale_s": 6.0, "hold_in_s": None,
                                      "hold_out_s": None}]},
                 duration_s=seconds, planned_duration_s=seconds, person=person)
    rec.device_id(DeviceInfo("Polar H10 1234", "AA:BB"), person)
    t, breath = 0.0, 0
    while True:
        ticks = round((1000.0 + swing_ms * math.sin(2 * math.pi * 0.1 * t)) * 1.024)
        t += ticks / 1024
        if t >= seconds:
            break
        while breath * 10.0 <= t:
            rec.event(breath * 10.0, "breath", {"n": breath, "inhale_s": 4.0, "exhale_s": 6.0,
                                                "hold_in_s": 0.0, "hold_out_s": 0.0})
            breath += 1
        row = rec.beat("AA:BB", ticks, ticks * 1000 / 1024, t, t + 0.05)
        rec.judge(row, False, "")
        rec.commit()
    if close:
        rec.event(seconds, "session_stop")
        rec.close()
    return path


# -- what a session's line holds -----------------------------------------------------------------


def test_figures_of_a_known_heart(data_dir, capsys):
    path = synthetic_recording(data_dir / "sessions" / "a.sqlite")
    e = session_entry(path)
    assert (e.person, e.source_kind, e.protocol, e.complete) == ("Anna", "ble", "coherence", True)
    assert e.duration_s == pytest.approx(300.0)
    # Heart rate 60000 / (1000 -+ 80) ms: 55.6 to 65.2 bpm within every breath, sampled by beats.
    assert 0.9 * (60000 / 920 - 60000 / 1080) < e.hr_swing_bpm <= 60000 / 920 - 60000 / 1080
    # One pure breathing rhythm: every 64 s window is highly coherent, windows every 5 s from 64 s.
    assert e.low_s == e.medium_s == 0.0
    assert abs(e.high_s - (300.0 - 64.0)) <= 10.0
    # The history's coherence is analyze's.
    code, out, _ = _run(capsys, "analyze", "--json", path)
    assert code == 0
    assert e.coherence_mean == pytest.approx(_json_lines(out)[0]["coherence_mean"], abs=1e-9)
    assert e.coherence_mean > 80  # high (a pure rhythm; the Hann window spreads a little)


def test_checkins_round_trip(data_dir, capsys):
    out, _ = train(capsys, "--person", "Zoë", "--before", 7, "--after", 2, "--note", "calmer")
    path = next((data_dir / "sessions").glob("*.sqlite"))
    s = read_session(path)
    assert s.meta["person"] == "Zoë"
    assert s.meta["checkin_before"] == {"suds": 7, "note": ""}
    assert s.meta["checkin_after"] == {"suds": 2, "note": "calmer"}
    db = sqlite3.connect(path)
    assert db.execute("SELECT person FROM devices").fetchall() == [("Zoë",)]
    db.close()
    # Said at the end of the session, and listed by history.
    assert "You felt 7 out of 10 before and 2 after: less distress than before." in out
    code, out, _ = _run(capsys, "history", "--json", "--include-simulated")
    (line,) = _json_lines(out)
    assert JSON_KEYS <= set(line)
    assert (line["person"], line["before"], line["after"], line["note"], line["change"]) == \
        ("Zoë", 7, 2, "calmer", -5)
    assert line["file"] == str(path.resolve()) and line["protocol"] == "coherence"
    assert line["minutes"] == pytest.approx(2.5)


@pytest.mark.parametrize("argv", [["--before", "11"], ["--after", "-1"], ["--before", "x"],
                                  ["--note", "two\nlines"]])
def test_bad_checkins_are_refused(data_dir, capsys, argv):
    with pytest.raises(SystemExit) as e:
        main(["train", "--headless", *argv])
    assert e.value.code == 2
    assert not (data_dir / "sessions").exists()


def test_the_person_is_the_last_one_unless_named(data_dir, capsys):
    train(capsys, "--person", "Anna")
    train(capsys)
    train(capsys, "--person", "Bob")
    with People() as people:
        assert [e.person for e in people.sessions(include_simulated=True)] == \
            ["Anna", "Anna", "Bob"]
        assert people.last_person() == "Bob"
    code, out, _ = _run(capsys, "history", "--json", "--include-simulated")  # the last person
    assert {line["person"] for line in _json_lines(out)} == {"Bob"}


def test_simulated_sessions_are_left_out_unless_asked_for(data_dir, capsys):
    synthetic_recording(data_dir / "sessions" / "real.sqlite")
    synthetic_recording(data_dir / "sessions" / "virtual.sqlite", kind="virtual")
    train(capsys, "--person", "Anna")
    code, out, _ = _run(capsys, "history", "--rebuild", "--json", "--person", "Anna")
    assert [os.path.basename(x["file"]) for x in _json_lines(out)] == ["real.sqlite"]
    code, out, _ = _run(capsys, "history", "--json", "--person", "Anna", "--include-simulated")
    assert sorted(x["source"] for x in _json_lines(out)) == ["ble", "sim", "virtual"]
    code, out, _ = _run(capsys, "history", "--person", "anna")
    assert code == 0 and out.startswith("Anna: 1 session (2 with the simulated or virtual "
                                        "strap left out")


# -- the index: killed sessions, sessions at once, rebuilding --------------------------------------


_KILLED = """
import asyncio, os, sys
from biobreath.clock import ScaledClock
from biobreath.core.pacer import Pacer
from biobreath.files.protocols import load_protocol
from biobreath.session import Session, SessionListener
from biobreath.session.recorder import RecordingListener
from biobreath.sim.physiology import SimParams
from biobreath.sim.source import SimulatedStrap

recorder = RecordingListener(sys.argv[1], person="Kim")

class Kill(SessionListener):
    def on_beat(self, device, verdict, state):
        if state.t >= 150.0:
            recorder.recorder.commit()
            os._exit(0)  # as a SIGKILL would: nothing closed

pacer = Pacer(load_protocol("coherence"))
session = Session(SimulatedStrap(SimParams(seed=0), pacer), ScaledClock(None), pacer,
                  duration_s=600.0, listeners=[recorder, Kill()])
asyncio.run(session.run())
"""


def test_history_survives_a_killed_session(data_dir, capsys):
    path = data_dir / "sessions" / "killed.sqlite"
    path.parent.mkdir()
    r = subprocess.run([sys.executable, "-c", _KILLED, str(path)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert os.path.exists(f"{path}-wal")  # left as a crash leaves it
    code, out, err = _run(capsys, "history", "--rebuild", "--person", "Kim", "--json",
                          "--include-simulated")
    assert code == 0, err
    (line,) = _json_lines(out)
    assert line["complete"] is False
    assert 2.4 < line["minutes"] < 2.6 and line["coherence_mean"] is not None
    code, out, _ = _run(capsys, "history", "--person", "Kim", "--include-simulated")
    assert "stopped early" in out
    assert sorted(p.name for p in path.parent.iterdir()) == \
        ["killed.sqlite", "killed.sqlite-shm", "killed.sqlite-wal"]  # read, never written


def test_two_sessions_writing_at_once_are_both_indexed(data_dir):
    env = {**os.environ, "BIOBREATH_DATA_DIR": str(data_dir)}
    procs = [subprocess.Popen([sys.executable, "-m", "biobreath", "train", "--headless",
                               "--source", "sim", "--speed", "max", "--duration", "200",
                               "--person", name],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
             for name in ("Ana", "Ben")]
    for p in procs:
        assert p.wait() == 0, p.stderr.read()
        assert p.stderr.read() == ""
    with People() as people:
        got = people.sessions(include_simulated=True)
    assert sorted(e.person for e in got) == ["Ana", "Ben"]
    assert all(e.complete and math.isfinite(e.coherence_mean) for e in got)


def test_rebuild_equals_the_incremental_index(data_dir, capsys):
    train(capsys, "--person", "Anna", "--before", 5)
    train(capsys, "--person", "Anna", "--after", 1, "--note", "slept well")
    elsewhere = data_dir / "elsewhere" / "x.sqlite"
    train(capsys, "--person", "Bob", "--out", elsewhere)
    synthetic_recording(data_dir / "sessions" / "killed.sqlite", person="Bob", close=False)
    with People() as people:
        incremental = people.sessions(include_simulated=True)
    assert len(incremental) == 3  # the killed one never ended, so nothing indexed it
    with People() as people:
        n, problems = rebuild_index(people)
        rebuilt = people.sessions(include_simulated=True)
    assert (n, problems) == (4, [])
    killed = [e for e in rebuilt if not e.complete]
    assert [os.path.basename(e.file) for e in killed] == ["killed.sqlite"]
    assert [e for e in rebuilt if e.complete] == incremental
    assert any(e.file == str(elsewhere.resolve()) for e in rebuilt)  # kept: --out elsewhere
    # From nothing (a lost index), the sessions folder alone.
    with People() as people:
        people.replace_sessions([])
        assert rebuild_index(people) == (3, [])
        assert people.sessions(include_simulated=True) == [
            e for e in rebuilt if e.file != str(elsewhere.resolve())]


def test_rebuild_leaves_out_an_unreadable_file_in_one_line(data_dir, capsys):
    synthetic_recording(data_dir / "sessions" / "good.sqlite")
    bad = data_dir / "sessions" / "bad.sqlite"
    head = (data_dir / "sessions" / "good.sqlite").read_bytes()[:100]
    bad.write_bytes(head + b"\0" * 50)  # ours by its header, cut short
    code, out, err = _run(capsys, "history", "--rebuild", "--person", "Anna", "--json")
    assert code == 0
    assert [os.path.basename(x["file"]) for x in _json_lines(out)] == ["good.sqlite"]
    lines = err.strip().splitlines()
    assert lines[0].startswith("biobreath: left out: ") and "bad.sqlite" in lines[0]
    assert lines[1] == "biobreath: indexed 1 recording"


# -- the history command ---------------------------------------------------------------------------


def test_plot_is_written_and_never_overwrites(data_dir, capsys):
    synthetic_recording(data_dir / "sessions" / "a.sqlite")  # Anna's, the only person
    png = data_dir / "h.png"
    code, _, err = _run(capsys, "history", "--rebuild", "--plot", png)
    assert code == 0, err
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    code, _, err = _run(capsys, "history", "--plot", png)
    assert code == 1 and err.strip().splitlines() == [
        f"biobreath: {png} already exists; choose another --plot (files are never overwritten)"]
    assert png.read_bytes() == data


def test_plot_draws_a_name_as_written(data_dir, capsys):
    """Two "$" in a name are not mathematics (matplotlib raised on this one), and a name in a
    script the font lacks draws boxes without a warning line."""
    name = "Jo $x^{ \\frac$ 日本"
    synthetic_recording(data_dir / "sessions" / "a.sqlite", person=name)
    png = data_dir / "h.png"
    code, _, err = _run(capsys, "history", "--rebuild", "--person", name, "--plot", png)
    assert code == 0 and "Glyph" not in err and "Traceback" not in err, err
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_unknown_person_is_one_line(data_dir, capsys):
    train(capsys, "--person", "Anna")
    code, _, err = _run(capsys, "history", "--person", "Nobody")
    assert code == 1
    assert err.strip().splitlines() == ["biobreath: nobody called 'Nobody' has practised here "
                                        "(known: Anna)"]
    code, _, err = _run(capsys, "history", "--person", "No\x1b[2Jbody")
    assert code == 1 and "\x1b" not in err and "control characters" in err


def test_people_command_sets_preferences_that_train_then_uses(data_dir, capsys):
    code, out, _ = _run(capsys, "people", "Ana", "--protocol", "demo", "--sound", "chime",
                        "--minutes", "2", "--resonance", "5.5")
    assert code == 0
    assert out.startswith("Ana: resonance 5.5 breaths/min; protocol demo, sound chime, 2 min")
    _, err = _train_without_duration(capsys, "--person", "Ana")
    assert "Ana's preferences: protocol demo, sound chime, 2 min" in err
    [row] = _json_lines(_run(capsys, "history", "--person", "Ana", "--json",
                             "--include-simulated")[1])
    assert row["protocol"] == "demo" and row["minutes"] == pytest.approx(2.0, abs=0.05)
    with People() as people:
        assert people.resonance_history("Ana")[-1][1:] == (5.5, "hand")
    # The command line wins over a preference, and nothing is said about the ones not used.
    _, err = _train_without_duration(capsys, "--person", "Ana", "--protocol", "coherence",
                                     "--duration", "60", "--sound", "off")
    assert "preferences" not in err
    [_, second] = _json_lines(_run(capsys, "history", "--person", "Ana", "--json",
                                    "--include-simulated")[1])
    assert second["protocol"] == "coherence" and second["minutes"] == pytest.approx(1.0, abs=0.05)
    # Cleared, the protocol's own length comes back.
    _run(capsys, "people", "Ana", "--minutes", "-", "--protocol", "-", "--sound", "-")
    [listed] = _json_lines(_run(capsys, "people", "--json")[1])
    assert listed | {"last_utc": None} == {
        "name": "Ana", "resonance_bpm": 5.5, "protocol": None, "sound": None,
        "session_minutes": None, "strap": None, "sessions": 2, "last_utc": None}


def _train_without_duration(capsys, *extra):
    code, out, err = _run(capsys, "train", "--headless", "--source", "sim", "--speed", "max",
                          *extra)
    assert code == 0, err
    return out, err


@pytest.mark.parametrize("argv, message", [
    (["people", "--sound", "tone"], "name the person"),
    (["people", "Nobody"], "nobody called 'Nobody'"),
    (["people", "Ana", "--protocol", "no-such-protocol"], "unknown protocol"),
    (["people", "Ana", "--resonance", "40"], "2-30 breaths/min"),
])
def test_people_command_refuses_in_one_line(data_dir, capsys, argv, message):
    code, _, err = _run(capsys, *argv)
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1


def test_a_refused_setting_changes_nothing(data_dir, capsys):
    _run(capsys, "people", "Ana", "--protocol", "demo")
    code, _, err = _run(capsys, "people", "Ana", "--protocol", "sigh", "--resonance", "40")
    assert code == 1 and "2-30 breaths/min" in err
    with People() as people:
        assert people.get("Ana").protocol == "demo" and people.get("Ana").resonance_bpm is None


def test_auto_source_falls_back_to_the_simulated_strap_in_one_line(monkeypatch, tmp_path,
                                                                    capsys):
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path}/no-such-bus")
    args = Namespace(device=[], speed=1.0, sim_link=[])
    assert _auto_source(args) == "sim"
    out, err = capsys.readouterr()
    (line,) = err.strip().splitlines()
    assert "training with the simulated strap" in line and out == ""
    # A named strap is waited for; a faster clock is only for simulated straps (no scan).
    assert _auto_source(Namespace(device=["H10"], speed=1.0, sim_link=[])) == "ble"
    assert _auto_source(Namespace(device=[], speed=None, sim_link=[])) == "sim"
    assert capsys.readouterr().err == ""


# -- progress: weeks, streaks, the comparison ----------------------------------------------------


def _on(day: str, minutes: float, coherence: float = 60.0, hour: int = 9) -> SessionEntry:
    return SessionEntry(f"id {day} {hour}", "f", "Anna", f"{day}T{hour:02d}:00:00+00:00",
                        minutes * 60.0, True, "ble", "coherence", "", 100, coherence, 0.0, 0.0,
                        0.0, 10.0, 60.0)


def test_weekly_minutes_by_hand():
    sessions = [_on("2026-11-02", 10), _on("2026-11-04", 15), _on("2026-11-08", 5),
                _on("2026-11-17", 20), _on("2026-11-17", 2.5, hour=18)]
    # Weeks start on Monday 2 Nov: 10 + 15 + 5, then an empty week, then 20 + 2.5; up to today's.
    assert weekly_minutes(sessions, date(2026, 11, 26), UTC) == [
        (date(2026, 11, 2), 30.0), (date(2026, 11, 9), 0.0), (date(2026, 11, 16), 22.5),
        (date(2026, 11, 23), 0.0)]
    assert weekly_minutes([], date(2026, 11, 26), UTC) == []
    # Sunday 8 Nov 23:00 UTC is Monday 9 Nov on a clock two hours ahead.
    late = [_on("2026-11-08", 5, hour=23)]
    assert weekly_minutes(late, date(2026, 11, 9), timezone(timedelta(hours=2))) == [
        (date(2026, 11, 9), 5.0)]


def test_streak_by_hand():
    days = [_on(d, 10) for d in ("2026-11-10", "2026-11-12", "2026-11-13", "2026-11-14")]
    assert streak_days(days, date(2026, 11, 14), UTC) == 3
    assert streak_days(days, date(2026, 11, 15), UTC) == 3  # today's session still to come
    assert streak_days(days, date(2026, 11, 16), UTC) == 0
    assert streak_days(days + [_on("2026-11-14", 5, hour=20)], date(2026, 11, 14), UTC) == 3
    assert streak_days([], date(2026, 11, 14), UTC) == 0


def test_comparison_sentences():
    nan = float("nan")
    earlier = [_on(f"2026-11-{d:02d}", 10, c) for d, c in
               zip(range(1, 11), (10, 10, 10, 60, 62, 64, 66, 63, nan, 65))]
    today = _on("2026-11-20", 10, 71.6)
    # The last 7 with a score: 10, 60, 62, 64, 66, 63, 65 -> mean 55.7
    whole = "Scored over the whole recording, your coherence today"
    assert compare_with_recent(today, earlier) == \
        f"{whole}, 72, was higher than your average of the last 7 sessions, 56."
    assert compare_with_recent(_on("2026-11-20", 10, 40.2), earlier[-2:]) == \
        f"{whole}, 40, was lower than in your previous session, 65."
    assert compare_with_recent(_on("2026-11-20", 10, 64.4), earlier[4:7]) == \
        f"{whole}, 64, was the same as your average of the last 3 sessions."
    assert compare_with_recent(today, []).startswith(
        f"{whole} was 72. This is your first session with a score")
    assert "too short" in compare_with_recent(_on("2026-11-20", 0.5, nan), earlier)


def test_checkin_words():
    e = _on("2026-11-20", 10)
    assert checkin_sentence(e) == "" and checkin_change(e) is None
    import dataclasses

    both = dataclasses.replace(e, before=Checkin(6), after=Checkin(6, "same"))
    assert checkin_change(both) == 0
    assert checkin_sentence(both) == "You felt 6 out of 10 before and 6 after: the same as before."
    after = dataclasses.replace(e, after=Checkin(4))
    assert checkin_sentence(after) == "You rated how you felt 4 out of 10 after the session."


# -- the window: check-ins and the history view -------------------------------------------------


def test_the_window_asks_checkins_records_them_and_shows_the_history(data_dir, qtbot):
    import asyncio

    import qasync
    from PySide6 import QtWidgets

    loop = qasync.QEventLoop(QtWidgets.QApplication.instance())
    asyncio.set_event_loop(loop)
    try:
        _window_checkins(data_dir, qtbot, loop)
    finally:
        loop.close()
        asyncio.set_event_loop(None)


def _window_checkins(data_dir, qtbot, loop):
    from PySide6 import QtCore

    from biobreath.clock import ScaledClock
    from biobreath.core.pacer import Pacer
    from biobreath.files.protocols import load_protocol
    from biobreath.files.recording import default_session_path
    from biobreath.session import Session
    from biobreath.session.history import Practice
    from biobreath.session.recorder import RecordingListener
    from biobreath.sim.physiology import SimParams
    from biobreath.sim.source import SimulatedStrap
    from biobreath.ui.window import TrainerWindow

    practice = Practice("Zoë")
    practice.simulated = True

    def make(protocol):
        pacer = Pacer(protocol)
        recorder = RecordingListener(default_session_path(), person=practice.person,
                                     before=practice.before, after=practice.after)
        return Session(SimulatedStrap(SimParams(seed=0), pacer), ScaledClock(None), pacer,
                       duration_s=150.0, listeners=[recorder, practice.listener()])

    settings = QtCore.QSettings(str(data_dir / "ui.ini"), QtCore.QSettings.Format.IniFormat)
    w = TrainerWindow(make, load_protocol("coherence"), autostart=False, settings=settings,
                      practice=practice)
    qtbot.addWidget(w)
    w.show()
    w.start()
    step = w.checkin_step
    assert step.isVisible() and not w.running and step.go_button.text() == "Start session"
    qtbot.keyClick(step, QtCore.Qt.Key.Key_7)  # a number key chooses (not a marker preset)
    step.note.setText("tense")
    qtbot.keyClick(step, QtCore.Qt.Key.Key_Return)
    assert w.running and not step.isVisible()
    loop.run_until_complete(w.task)
    assert step.isVisible() and step.moment == "after" and not w.summary_panel.isVisible()
    step.group.button(2).click()
    step.go_on()
    assert w.summary_panel.isVisible()
    assert "You felt 7 out of 10 before and 2 after: less distress than before." in \
        _texts(w.summary_panel)
    meta = read_session(practice.entry.file).meta
    assert meta["checkin_before"] == {"suds": 7, "note": "tense"}
    assert meta["checkin_after"] == {"suds": 2, "note": ""}
    with People() as people:
        (e,) = people.sessions("Zoë", include_simulated=True)
    assert (e.before, e.after) == (Checkin(7, "tense"), Checkin(2))
    # H shows the history: one session, drawn as one point.
    qtbot.keyClick(w, QtCore.Qt.Key.Key_H)
    assert w.history_view.isVisible()
    _, ys = w.history_view.curve.getData()
    assert list(ys) == pytest.approx([e.coherence_mean])
    qtbot.keyClick(w.history_view, QtCore.Qt.Key.Key_Escape)
    assert not w.history_view.isVisible()
    # The next session asks again; skipping records no check-in.
    w.start()
    assert step.isVisible() and step.moment == "before"
    step.skip()
    loop.run_until_complete(w.task)
    assert step.isVisible() and step.moment == "after"
    step.skip()
    with People() as people:
        last = people.sessions("Zoë", include_simulated=True)[-1]
    assert last.before is None and last.after is None and last.session_id != e.session_id
    w.close()


def _texts(widget) -> str:
    from PySide6 import QtWidgets

    return "\n".join(lab.text() for lab in widget.findChildren(QtWidgets.QLabel))
