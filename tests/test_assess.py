"""The resonance assessment to its end: rates as written, coverage, confidence, the command, the
end panel, and accuracy on the simulated person over several seeds."""

import asyncio
import json
import math
from dataclasses import replace
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest

from biobreath.cli import assess as assess_cli
from biobreath.cli import main
from biobreath.clock import ScaledClock
from biobreath.core.pacer import Pacer
from biobreath.core.resonance import (
    ResonanceAssessment,
    ResonanceCriteria,
    assess,
    rate_text,
    recommend,
    resonance_criteria,
    step_coverage,
)
from biobreath.files.protocols import load_protocol
from biobreath.files.readers import RRRecording
from biobreath.session import Session, SessionListener
from biobreath.sim.physiology import PhysiologyModel, SimParams
from biobreath.sim.source import SimulatedStrap

PROTOCOL = load_protocol("resonance-assessment")
RATES = (6.5, 6.0, 5.5, 5.0, 4.5)


class Beats(SessionListener):
    """The live core's normal and flagged beats, as the recorder would keep them."""

    def __init__(self):
        self.t, self.rr, self.artifact = [], [], []

    def on_beat(self, device, verdict, state):
        self.t.append(verdict.t)
        self.rr.append(verdict.rr_ms)
        self.artifact.append(verdict.artifact)


def simulated_assessment(resonance_bpm, seed, *, duration_s=None, drop=None):
    """One whole assessment of the simulated person, headless at full speed in this process
    (no recorder), evaluated as ``biobreath assess`` evaluates its recording. ``drop``: a
    (t0, t1) stretch (s) whose beats are lost, as when the strap is."""
    pacer = Pacer(PROTOCOL)
    beats = Beats()
    session = Session(SimulatedStrap(SimParams(seed=seed, resonance_bpm=resonance_bpm), pacer),
                      ScaledClock(None), pacer, duration_s=duration_s, listeners=[beats])
    asyncio.run(session.run())
    t, rr = np.array(beats.t), np.array(beats.rr)
    keep = np.ones(t.size, bool) if drop is None else ~((t >= drop[0]) & (t < drop[1]))
    rec = RRRecording(Path("simulated.sqlite"), "session", rr[keep], t[keep],
                      np.array(beats.artifact)[keep], "ms", protocol=PROTOCOL)
    return assess_cli.evaluate_recording(rec, "test")


def model_assessment(resonance_bpm, seed, **params):
    """One whole assessment of the simulated person's true beats (the model alone, no strap or
    session), evaluated as ``biobreath assess`` evaluates its recording."""
    pacer = Pacer(PROTOCOL)
    chunk = PhysiologyModel(SimParams(seed=seed, resonance_bpm=resonance_bpm, **params),
                            pacer).advance(pacer.duration_s)
    rec = RRRecording(Path("simulated.sqlite"), "session", chunk.rr_ms, chunk.beat_times,
                      np.zeros(chunk.rr_ms.size, bool), "ms", protocol=PROTOCOL)
    return assess_cli.evaluate_recording(rec, "test")


# --- rates as written --------------------------------------------------------------------


def test_protocol_rates_read_back_exactly_as_written():
    rates = [s.shape.rate_bpm for s in PROTOCOL.steps if s.shape is not None]
    assert rates == list(RATES)  # 60/6.5 split 4:6 once summed to 6.500000000000001
    assert [rate_text(r) for r in rates] == ["6.5", "6.0", "5.5", "5.0", "4.5"]
    assert rate_text(6.25) == "6.25"


# --- coverage and recommendation ----------------------------------------------------------


def test_step_coverage_counts_covered_seconds_and_not_gaps():
    # Beats every second over 0-100 s; the strap is lost until the beat at 121 s (its 21 s
    # "interval" spans the hole), then beats every second to 150 s.
    t = np.r_[np.arange(1.0, 101.0), np.arange(121.0, 151.0)]
    rr = np.r_[np.full(100, 1000.0), [21000.0], np.full(29, 1000.0)]
    # Covered within [50, 150): 50-100 and 121-150, 50 + 29 seconds of 100.
    assert step_coverage(t, rr, 50.0, 150.0) == pytest.approx(0.79)
    assert step_coverage(t, rr, 0.0, 100.0) == pytest.approx(1.0)
    assert step_coverage(t, rr, 200.0, 300.0) == 0.0


def _crit(rate, phase, swing, lf, peak, smooth, peaks):
    return ResonanceCriteria(rate, 0.0, 100.0, phase, swing, lf, peak, rate / 60, smooth, peaks)


def test_confidence_is_the_winners_lead_over_the_criteria_scored():
    crit = [_crit(6.0, 30, 10, 100, 50, 0.5, 2),
            _crit(5.5, 2, 14, 300, 90, 0.9, 1),   # wins phase, swing, LF, peak, smooth
            _crit(5.0, 10, 12, 200, 70, 0.7, 1)]  # shares "fewest LF peaks" with 5.5
    a = assess(crit)
    assert a.points == (0, 6, 1)
    r = recommend(a, [6.0, 5.5, 5.0], {6.0: 1.0, 5.5: 1.0, 5.0: 1.0})
    assert (r.rate_bpm, r.words) == (5.5, "clear")
    assert r.confidence == pytest.approx((6 - 1) / 6)
    # Split criteria: 3 to 3 is a tie, decided by the larger LF peak, and "uncertain".
    split = [_crit(6.0, 1, 14, 300, 60, 0.5, 3), _crit(5.5, 20, 10, 100, 90, 0.9, 1)]
    r = recommend(assess(split), [6.0, 5.5], {6.0: 1.0, 5.5: 1.0})
    assert (r.rate_bpm, r.confidence, r.words) == (5.5, 0.0, "uncertain")


def _resonant(f0, q=3.0, gain=8.0, direct=2.0, wobble=None):
    """Criteria whose heart-rate oscillation is exactly a resonance at ``f0`` beside a direct
    in-phase path of amplitude ``direct`` (plus ``wobble``, bpm, added to each rate's complex
    value)."""
    out = []
    for k, rate in enumerate(RATES):
        h = (gain / (1 + 1j * q * (rate / f0 - f0 / rate)) + direct
             + (wobble[k] if wobble else 0))
        c = _crit(rate, math.degrees(np.angle(h)), 2 * abs(h), 100, 50, 0.8, 1)
        out.append(replace(c, amplitude_bpm=abs(h)))
    return out


def test_the_rate_comes_from_a_resonance_fitted_to_every_rate():
    a = assess(_resonant(5.3))
    assert a.fit.rate_bpm == pytest.approx(5.3, abs=1e-6) and a.fit.q == pytest.approx(3.0)
    assert (a.fit.gain_bpm, a.fit.direct_bpm) == pytest.approx((8.0, 2.0))
    assert a.best_rate_bpm == 5.5
    r = recommend(a, list(RATES), dict.fromkeys(RATES, 1.0))
    assert (r.rate_bpm, r.words) == (5.5, "clear") and r.confidence == pytest.approx(1.0)
    # With misfit, the confidence is the normal probability mass of the fitted resonance within
    # the chosen rate's half-way marks (5.25-5.75), computed here independently.
    a = assess(_resonant(5.3, wobble=[0.6, -0.5j, 0.4, 0.5j, -0.6]))
    r = recommend(a, list(RATES), dict.fromkeys(RATES, 1.0))
    mass = NormalDist(a.fit.rate_bpm, a.fit.se_bpm)
    assert r.rate_bpm == 5.5 and 0.0 < r.confidence < 1.0
    assert r.confidence == pytest.approx(mass.cdf(5.75) - mass.cdf(5.25))
    # At the edge of the range the cell is open: a resonance beyond 4.5 still picks 4.5.
    a = assess(_resonant(4.0))
    assert a.best_rate_bpm == 4.5 and a.fit.rate_bpm == pytest.approx(4.0, abs=1e-6)


def test_no_recommendation_without_every_rate_measured():
    a = assess([_crit(6.5, 5, 12, 200, 80, 0.8, 1), _crit(6.0, 9, 11, 150, 70, 0.7, 1)])
    stopped = recommend(a, [6.5, 6.0, 5.5], {6.5: 1.0, 6.0: 1.0})
    assert stopped.rate_bpm is None and stopped.words == "none"
    assert "ended before 5.5 breaths/min" in stopped.reason
    lost = recommend(a, [6.5, 6.0], {6.5: 1.0, 6.0: 0.55})
    assert lost.rate_bpm is None and "55%" in lost.reason and "6.0 breaths/min" in lost.reason
    assert recommend(None, [6.5], {}).rate_bpm is None


def test_each_rate_is_judged_after_the_heart_rate_settles():
    # Heart rate follows breathing at 6/min exactly, but the first 20 s carry a slower wave
    # (the previous pace dying away): settled, the curve is a pure sinusoid at the pace.
    fs, rate = 4.0, 6.0
    t = np.arange(0.0, 120.0, 1 / fs)
    hr = 66 + 6 * np.sin(2 * np.pi * rate / 60 * t) + np.where(t < 20, 8 * np.sin(
        2 * np.pi * 0.045 * t), 0.0)
    beat_t, beat = [], 0.0
    while beat < 119:
        beat += 60.0 / np.interp(beat, t, hr)
        beat_t.append(beat)
    beat_t = np.array(beat_t)
    rr = np.diff(np.r_[0.0, beat_t]) * 1000
    vol = 0.5 - 0.5 * np.cos(2 * np.pi * rate / 60 * t)
    settled = resonance_criteria(beat_t, rr, t, vol, rate, 0.0, 120.0)
    whole = resonance_criteria(beat_t, rr, t, vol, rate, 0.0, 120.0, settle_s=0.0)
    assert settled.t0 == 20.0 and whole.t0 == 0.0
    assert settled.smoothness > 0.97 > whole.smoothness


# --- the simulated person ----------------------------------------------------------------


def test_an_assessment_stopped_early_recommends_nothing_and_says_why():
    # Stopped at 7 minutes: half-way through 5.5/min (6-8 min), before 5.0 and 4.5.
    result = simulated_assessment(5.5, 1, duration_s=7 * 60)
    assert result.recommendation.rate_bpm is None
    reason = result.recommendation.reason
    assert "of the 5.5 breaths/min step" in reason and "stopped early" in reason
    assert "No resonance rate" in result.title and result.best_row is None


def test_a_strap_lost_for_a_minute_of_one_rate_recommends_nothing():
    # 5.5/min is the third paced step: 2 min baseline + 2 x 2 min = from about 360 s.
    result = simulated_assessment(5.5, 2, drop=(380.0, 440.0))
    assert result.recommendation.rate_bpm is None
    assert "5.5 breaths/min" in result.recommendation.reason
    assert "has heartbeats" in result.recommendation.reason


@pytest.mark.parametrize("resonance_bpm", RATES)
def test_a_noise_free_person_gets_their_resonance_fitted_exactly(resonance_bpm):
    # Noise off, breathing exactly with the pacer: the only error left is the estimator's own.
    # (A resonance fitted without the direct vagal path was 0.02-0.05 breaths/min off here, and
    # with a Q of 1.3-1.8 for a loop of 3.3.)
    quiet = dict(mayer_sd_bpm=0.0, vlf_sd_bpm=0.0, beat_noise_sd_bpm=0.0, fidelity=1.0)
    result = model_assessment(resonance_bpm, 0, **quiet)
    fit = result.assessment.fit
    assert result.recommendation.rate_bpm == resonance_bpm
    assert fit.rate_bpm == pytest.approx(resonance_bpm, abs=0.05)
    loop_q = 1 / (2 * SimParams().baroreflex_damping)
    assert fit.q == pytest.approx(loop_q, rel=0.1)


ACCURACY_SEEDS = (11, 12, 13, 14)


@pytest.fixture(scope="module")
def assessments():
    """The assessment of every rate with every seed, by (rate, seed); the full protocol each."""
    return {(rate, seed): simulated_assessment(rate, seed)
            for rate in RATES for seed in ACCURACY_SEEDS}


@pytest.fixture(scope="module")
def accuracy_runs(assessments):
    """(true rate, recommended rate, confidence words) of every run."""
    return [(rate, a.recommendation.rate_bpm, a.recommendation.words)
            for (rate, _), a in assessments.items()]


def test_the_simulated_persons_rate_is_found_in_at_least_90_percent_of_runs(accuracy_runs):
    # Whole sessions in this process. Over many more seeds (benchmarks/bench_assess.py, see the
    # README) the figure is 96 %, by blocks of 10 seeds 88-100 %: a seed's noise is shared by
    # all five rates, so misses cluster by seed.
    found = sum(true == got for true, got, _ in accuracy_runs)
    assert found >= 0.9 * len(accuracy_runs), f"{found}/{len(accuracy_runs)}"


def test_the_simulated_persons_rate_is_found_or_missed_by_one_step_only(accuracy_runs):
    # A guard against regressions, far above chance (1 in 5): most runs exact, none off by more
    # than the neighbouring rate.
    found = sum(true == got for true, got, _ in accuracy_runs)
    assert found >= 0.6 * len(accuracy_runs), f"{found}/{len(accuracy_runs)}"
    assert all(got is not None and abs(got - true) <= 0.5 for true, got, _ in accuracy_runs)


# --- the command ---------------------------------------------------------------------------


def test_assess_json_has_the_recommendation_and_analyzes_step_keys(tmp_path, monkeypatch,
                                                                  capsys):
    monkeypatch.setenv("BIOBREATH_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "assess.sqlite"
    code = main(["assess", "--source", "sim", "--headless", "--speed", "max", "--json",
                 "--sim-resonance", "5.0", "--sim-seed", "3", "--out", str(out),
                 "--person", "Ada"])
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1  # the breath lines went to standard error
    doc = json.loads(lines[0])
    assert code == 0 and doc["recommended_bpm"] in RATES
    assert 0.0 <= doc["confidence"] <= 1.0
    assert [s["rate_bpm"] for s in doc["steps"]] == list(RATES)
    main(["analyze", "--json", str(out)])
    analyzed = json.loads(capsys.readouterr().out.strip().splitlines()[0])["resonance"]
    assert [set(s) for s in doc["steps"]] == [set(s) for s in analyzed["steps"]]
    assert doc["steps"] == analyzed["steps"]
    assert analyzed["best_rate_bpm"] == doc["recommended_bpm"]


def test_assess_prints_the_table_and_keeps_a_simulated_rate_off_the_person(tmp_path,
                                                                          monkeypatch, capsys):
    monkeypatch.setenv("BIOBREATH_DATA_DIR", str(tmp_path / "data"))
    code = main(["assess", "--source", "sim", "--headless", "--speed", "max",
                 "--out", str(tmp_path / "a.sqlite"), "--person", "Ada"])
    text = capsys.readouterr().out
    assert code == 0
    table = text[text.index("rate /min"):]
    for rate in ("6.5", "6.0", "5.5", "5.0", "4.5"):
        assert f" {rate} " in table
    assert "6.500000000000001" not in text
    assert "Your resonance rate:" in text and "How sure:" in text
    assert "not saved for Ada" in text
    from biobreath.files.people import People

    with People() as people:
        assert people.resolve("Ada").resonance_bpm is None


def test_a_recommendation_from_a_real_strap_is_saved_to_the_person(monkeypatch, assessments):
    saved = []

    class FakePeople:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def set_resonance(self, name, bpm, *, source="assessment", file=None):
            saved.append((name, bpm, source, file))

    import biobreath.files.people as people_module

    monkeypatch.setattr(people_module, "People", FakePeople)
    result = assessments[6.0, ACCURACY_SEEDS[0]]
    line = assess_cli._save(result, simulated=False)
    assert saved == [("test", result.recommendation.rate_bpm, "assessment",
                      "simulated.sqlite")]
    assert "Saved" in line
    none = assess_cli.AssessmentResult(Path("x"), "test", None,
                                       recommend(None, [6.0], {}), (), None)
    assert assess_cli._save(none, simulated=False) == "" and len(saved) == 1


# --- the end panel -------------------------------------------------------------------------


def test_end_panel_shows_the_table_and_marks_the_recommended_row(qtbot, tmp_path, assessments):
    from PySide6 import QtWidgets

    from biobreath.ui.assessment_view import show_assessment

    window = QtWidgets.QMainWindow()
    window.setCentralWidget(QtWidgets.QWidget())
    window.resize(1280, 800)
    qtbot.addWidget(window)
    window.show()
    result = assessments[5.0, ACCURACY_SEEDS[1]]
    panel = show_assessment(window, assess_cli.HEADERS, result.rows, result.best_row,
                            result.title, result.reading)
    assert panel.isVisible() and panel.title_label.text() == result.title
    assert [[c.text() for c in row[1:]] for row in panel.cells] == [list(r) for r in result.rows]
    marks = [row[0].text() for row in panel.cells]
    assert marks.count("▶") == 1 and marks.index("▶") == result.best_row
    assert panel.cells[result.best_row][1].font().bold()
    assert not panel.cells[(result.best_row + 1) % 5][1].font().bold()
    # The panel fits in the window.
    assert window.centralWidget().rect().contains(panel.geometry())
    window.grab().save(str(tmp_path / "assessment.png"))


def test_every_simulated_assessment_has_a_fit_and_a_confidence(assessments):
    for result in assessments.values():
        r, fit = result.recommendation, result.assessment.fit
        assert isinstance(result.assessment, ResonanceAssessment) and fit is not None
        assert 0.0 <= r.confidence <= 1.0 and r.words in ("clear", "likely", "uncertain")
        # The chosen rate is the paced rate nearest the fitted resonance.
        assert r.rate_bpm == min(RATES, key=lambda x: abs(x - fit.rate_bpm))
