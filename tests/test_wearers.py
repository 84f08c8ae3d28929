"""Who wears which strap: one --person per strap on the command line, kept in the recording's
``devices.person``, read back, replayed, and named on the group view's cards."""

import asyncio
import json

import pytest

from biobreath.cli import main
from biobreath.clock import ScaledClock
from biobreath.core.pacer import Pacer
from biobreath.files.recording import read_session, recorded_wearers
from biobreath.session import Session
from biobreath.sources.replay import ReplaySource

pytest.importorskip("pytestqt")

from biobreath.ui.group_view import GroupView  # noqa: E402


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOBREATH_DATA_DIR", str(tmp_path))
    return tmp_path


def _train(capsys, *argv) -> tuple[int, str]:
    code = main(["train", "--headless", "--source", "virtual", "--speed", "max",
                 "--duration", "40", *map(str, argv)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("straps", [["--people", "2"], ["--device", "AAAA1111",
                                                       "--device", "BBBB2222"]])
def test_each_strap_is_named_for_its_person_in_the_file_and_on_replay(data_dir, capsys, qtbot,
                                                                     straps):
    out = data_dir / "pair.sqlite"
    code, err = _train(capsys, *straps, "--person", "Therapist", "--person", "Client",
                       "--out", out)
    assert code == 0, err
    data = read_session(out)
    # In the order asked for: the k-th --person wears the k-th strap.
    assert list(data.meta["wearers"].values()) == ["Therapist", "Client"]
    assert data.meta["wearers"] == {d.address: n for d, n in zip(data.devices,
                                                                 ("Therapist", "Client"))}
    if straps[0] == "--device":
        assert [d.name for d in data.devices] == ["Polar H10 AAAA1111", "Polar H10 BBBB2222"]
    assert data.meta["person"] == "Therapist"  # the first is the one practising
    assert data.persons == ("Therapist", "Client")  # as devices.person holds them
    # analyze names each strap's line for its wearer.
    assert main(["analyze", "--json", str(out)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["address"], r["person"]) for r in rows] == [
        (d.address, n) for d, n in zip(data.devices, ("Therapist", "Client"))]
    assert main(["analyze", str(out)]) == 0
    heads = [line for line in capsys.readouterr().out.splitlines() if line.startswith(str(out))]
    assert [h.split("  ")[1] for h in heads] == [
        f"{n}, {d.name}" for d, n in zip(data.devices, ("Therapist", "Client"))]

    async def replay():
        session = Session(ReplaySource(data), ScaledClock(None), Pacer(data.protocol()),
                          duration_s=data.planned_duration_s, wearers=recorded_wearers(data))
        await session.run()
        return session

    session = asyncio.run(replay())
    assert [s.status.person for s in session.straps.values()] == ["Therapist", "Client"]
    view = GroupView()
    qtbot.addWidget(view)
    view.show_session(session, session.t)
    cards = list(view.cards.values())
    assert [c.name_label.text() for c in cards] == ["Therapist", "Client"]
    # The strap is one hover away (its name as written: an escaped tooltip).
    from PySide6 import QtGui

    tip = QtGui.QTextDocument()
    tip.setHtml(cards[0].name_label.toolTip())
    assert tip.toPlainText().replace("\xa0", " ") == data.devices[0].name


def test_without_names_per_strap_the_cards_show_the_straps(data_dir, capsys):
    out = data_dir / "pair.sqlite"
    assert _train(capsys, "--people", "2", "--person", "Ana", "--out", out)[0] == 0
    data = read_session(out)
    # Nobody was named per strap: the cards show the straps, live and on replay.
    assert "wearers" not in data.meta
    assert recorded_wearers(data)(data.devices[0]) == ""


@pytest.mark.parametrize("argv, message", [
    (["--people", "3", "--person", "A", "--person", "B"], "2 --person for 3 straps"),
    (["--device", "AAAA1111", "--person", "A", "--person", "B"], "2 --person for 1 strap"),
    (["--person", "A", "--person", "B"], "2 --person for one strap"),
    (["--people", "2", "--person", "A", "--person", ""], "name"),
])
def test_names_that_do_not_fit_the_straps_are_one_line(data_dir, capsys, argv, message):
    code, err = _train(capsys, *argv)
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1


def test_the_replay_window_names_the_cards_at_any_moment(data_dir, capsys, loop, replay_window):
    from biobreath.ui.timeline import landed

    out = data_dir / "pair.sqlite"
    code, err = _train(capsys, "--people", "2", "--person", "Therapist", "--person", "Client",
                       "--out", out)
    assert code == 0, err
    window, scrub = replay_window(out)
    for t in (30.0, 10.0):  # a moment after a snapshot, then one before the first
        scrub.seek(t)

        async def arrived(t=t):
            while not (window.session.clock.now() == t and landed(window.session)):
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.05)  # a few frames

        loop.run_until_complete(asyncio.wait_for(arrived(), 10.0))
        names = [c.name_label.text() for c in window.group_view.cards.values()]
        assert names == ["Therapist", "Client"]
    window.session.stop()
    loop.run_until_complete(window.task)


@pytest.mark.parametrize("told", [None, "Ana", ["Ana"], {"AA": 3}, {"AA": None}, {"AA": ["x"]}])
def test_a_damaged_wearers_meta_names_nobody(told):
    import dataclasses

    from biobreath.events import DeviceInfo
    from biobreath.files.recording import SessionData

    data = dataclasses.replace(_empty_session(), meta={"wearers": told})
    assert recorded_wearers(data)(DeviceInfo("Polar H10 AA", "AA")) == ""
    assert isinstance(data, SessionData)


def _empty_session():
    import numpy as np

    from biobreath.files.recording import SessionData

    empty = np.zeros(0)
    return SessionData(path=None, meta={}, devices=(), device_ids=empty.astype(int),
                       rr_ticks=empty.astype(int), rr_ms=empty, beat_time_s=empty,
                       arrival_s=empty, artifact=empty.astype(bool), events=())
