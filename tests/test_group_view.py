"""The group view: every person of a session side by side with the pair's live synchrony,
drawn offscreen from sessions of 2 and 4 simulated people on virtual straps."""

import asyncio
import math

import numpy as np
import pytest

from biobreath.core.pacer import Pacer
from biobreath.core.synchrony import LIVE_PARAMS, synchrony
from biobreath.files.protocols import load_protocol
from biobreath.session import Session
from biobreath.session.recorder import RecordingListener
from biobreath.sim.virtual_source import open_virtual_straps
from biobreath.sim.virtual_time import VirtualTimeLoop, loop_clock
from biobreath.sources.factory import simulated_people

pytest.importorskip("pytestqt")

import pyqtgraph as pg  # noqa: E402
from PySide6 import QtGui, QtWidgets  # noqa: E402

from biobreath.ui import theme  # noqa: E402
from biobreath.ui.group_view import GroupView, columns_for  # noqa: E402
from biobreath.ui.timeline import landed  # noqa: E402


def _session(n: int, seconds: float, protocol: str = "coherence", out=None) -> Session:
    async def main():
        pacer = Pacer(load_protocol(protocol))
        source = open_virtual_straps([f"person {i + 1}" for i in range(n)],
                                     sim_params=simulated_people(n, 3, 5.5), pacer=pacer,
                                     pmd=False)
        session = Session(source, loop_clock(), pacer, duration_s=seconds,
                          listeners=[RecordingListener(out)] if out else [])
        await session.run()
        return session

    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(main())


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    path = tmp_path_factory.mktemp("group") / "pair.sqlite"
    session = _session(2, 150.0, out=path)
    session.path = path
    return session


@pytest.fixture(scope="module")
def four():
    return _session(4, 100.0)


def _view(qtbot, session, size=(900, 640)):
    """The view at ``size`` px, in the window's style (as the window's middle row holds it)."""
    host = QtWidgets.QWidget()
    host.setObjectName("central")
    host.setStyleSheet(theme.style_sheet(theme.current()))
    QtWidgets.QVBoxLayout(host).addWidget(view := GroupView())
    qtbot.addWidget(host)
    view.host = host  # the host has no parent: keep it (and so the view) alive
    host.resize(*size)
    host.show()
    view.show_session(session, session.t)
    qtbot.wait(1)
    return view


def test_two_people_side_by_side_with_their_synchrony(qtbot, pair, tmp_path):
    view = _view(qtbot, pair)
    cards = list(view.cards.values())
    assert len(cards) == 2 and view.sync_bar.isVisible()
    # Side by side: same row, the second to the right of the first, same size.
    (a, b) = (c.geometry() for c in cards)
    assert a.top() == b.top() and b.left() > a.right()
    assert abs(a.width() - b.width()) <= 1 and b.right() < view.width() <= 900
    for card, strap in zip(cards, pair.straps.values()):
        assert card.name_label.text() == strap.status.name
        assert card.score_label.text() == f"{strap.core.state.coherence.score:.0f}"
        assert f"{strap.core.state.hr_bpm:.0f} bpm" in card.trace.hr_label.text()
        assert "connected" in card.status_label.text()
    # The bar shows what the core computes from the last minute of both people's normal beats.
    beats = []
    for strap in pair.straps.values():
        t, rr, art = strap.core.recent(1e9, judged_only=True)
        beats += [t[~art], rr[~art]]
    expected = synchrony(*beats, t_start=pair.t - 60, t_end=pair.t, params=LIVE_PARAMS)
    shown = view.sync_bar.result
    assert shown.r == pytest.approx(expected.r) and expected.n_windows == 5
    assert view.sync_bar.value_label.text() == f"{expected.r:.2f}"
    assert expected.r > 0.7 and "pacer" in view.sync_bar.lead_label.text()
    view.window().grab().save(str(tmp_path / "group-2.png"))


def test_four_people_pictured(qtbot, four, tmp_path):
    view = _view(qtbot, four, (1500, 900))
    view.window().grab().save(str(tmp_path / "group-4.png"))


def test_four_people_in_two_rows_without_synchrony_bar(qtbot, four):
    view = _view(qtbot, four, (1500, 900))
    cards = list(view.cards.values())
    assert len(cards) == 4 and not view.sync_bar.isVisible()
    tops = sorted({c.geometry().top() for c in cards})
    assert len(tops) == 2
    assert max(c.geometry().right() for c in cards) < view.width() <= 1500
    assert max(c.geometry().bottom() for c in cards) < view.height() <= 900
    scores = [s.core.state.coherence for s in four.straps.values()]
    for card, coh in zip(cards, scores):
        assert card.score_label.text() == (f"{coh.score:.0f}" if coh and math.isfinite(coh.score)
                                           else "–")


def test_cards_redraw_beats_only_when_new(qtbot, pair):
    view = _view(qtbot, pair)
    card = next(iter(view.cards.values()))
    before = card.trace.hr_curve.getData()[0].copy()
    view.show_session(pair, pair.t + 1.0)  # no new beats: the curve's data is left alone
    np.testing.assert_array_equal(card.trace.hr_curve.getData()[0], before)


def test_the_cards_traces_step_in_turn(qtbot, four):
    view = _view(qtbot, four, (1500, 900))
    traces = [c.trace for c in view.cards.values()]
    moved = [0] * len(traces)
    renewed = [0] * len(traces)
    view.show_session(four, four.t)  # placed again now the cards are laid out at their size
    before = [tr.hr_curve.pos().x() for tr in traces]
    curves = [tr.breath_curve.getData()[0] for tr in traces]
    for k in range(1, 661):  # eleven seconds of frames
        view.show_session(four, four.t + k / 60)
        now = [tr.hr_curve.pos().x() for tr in traces]
        steps = [a != b for a, b in zip(now, before)]
        assert sum(steps) <= 1  # never two traces repainted in one frame for moving
        new = [tr.breath_curve.getData()[0] is not c for tr, c in zip(traces, curves)]
        assert sum(new) <= 1  # nor for a new stretch of pacer curve
        moved = [m + s for m, s in zip(moved, steps)]
        renewed = [r + n for r, n in zip(renewed, new)]
        before, curves = now, [tr.breath_curve.getData()[0] for tr in traces]
    assert min(moved) >= 60  # and each does move, a pixel at a time (~9 px/s)
    assert min(renewed) >= 1  # and renews its curve, every 10 s


def test_reset_forgets_the_people(qtbot, pair):
    view = _view(qtbot, pair)
    view.reset()
    assert view.cards == {} and not view.sync_bar.isVisible()
    view.show_session(pair, pair.t)
    assert len(view.cards) == 2


@pytest.mark.parametrize("n, cols", [(2, 2), (3, 2), (4, 2), (6, 4), (8, 4)])
def test_columns(n, cols):
    assert columns_for(n) == cols




def test_a_card_s_status_line_ends_with_the_battery():
    """A card too narrow cuts its status line at the end: the battery, which changes least,
    goes there, after the signal."""
    from biobreath.events import LinkState, SignalQuality
    from biobreath.session.listener import StrapStatus
    from biobreath.ui.group_view import status_text

    status = StrapStatus("AA", "H10", link=LinkState.CONNECTED, battery_pct=90,
                         quality=SignalQuality.GOOD)
    doc = QtGui.QTextDocument()
    doc.setHtml(status_text(status, theme.current()))
    assert doc.toPlainText() == "connected · signal good · battery 90 %"


@pytest.mark.parametrize("lo, hi", [(58.0, 73.0), (63.0, 82.0), (50.0, 110.0), (61.5, 64.0)])
@pytest.mark.parametrize("size", [30.0, 36.0, 60.0])
def test_a_short_value_axis_keeps_a_label_and_none_overlap(qtbot, lo, hi, size):
    """A card's short trace (about 35 px) labelled 60, 65 and 70 on top of each other: now its
    labels stand apart, at least one of them left where it is drawn (clear of the ends)."""
    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    axis = theme.style_plot(plot).getAxis("left")
    height = QtGui.QFontMetricsF(axis.style["tickFont"]).height()
    px = size / (hi - lo)
    (spacing, offset), *_ = axis.tickSpacing(lo, hi, size)
    ticks = [v for v in np.arange(np.ceil((lo - offset) / spacing) * spacing + offset, hi, spacing)
             if lo + 0.5 * height / px <= v <= hi - 0.5 * height / px]
    assert ticks, (spacing, lo, hi)
    assert len(ticks) == 1 or spacing * px >= height  # apart by at least a label's height


def test_a_tall_value_axis_keeps_pyqtgraph_s_ticks(qtbot):
    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    axis = theme.style_plot(plot).getAxis("left")
    assert axis.tickSpacing(50.0, 90.0, 300.0) == pg.AxisItem("left").tickSpacing(50.0, 90.0,
                                                                                  300.0)


def test_the_window_shows_everyone_when_a_session_has_two_straps(loop, pair, tmp_path,
                                                                  replay_window):
    window, scrub = replay_window(pair.path)
    scrub.seek(140.0)

    async def landed_at_140():
        while not (window.session.clock.now() == 140.0 and landed(window.session)):
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)  # a few frames

    loop.run_until_complete(asyncio.wait_for(landed_at_140(), 10.0))
    assert window.group_view.isVisible() and len(window.group_view.cards) == 2
    for single in (window.heart_trace, window.score_panel, window.history_panel,
                   window.strap_panel):
        assert not single.isVisible()
    assert window.pacer_panel.isVisible()  # the one pacer both breathe with
    assert window.group_view.sync_bar.value_label.text() != "–"
    window.save_screenshot(tmp_path / "window-group.png")
    window.session.stop()
    loop.run_until_complete(window.task)
