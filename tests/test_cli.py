"""The command line: every bad input gives one clear line and a non-zero exit, never a traceback."""

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from biobreath.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code, err, pattern):
    assert code != 0
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert pattern in lines[0], lines[0]


@pytest.mark.parametrize("argv, pattern", [
    (["train", "--headless", "--protocol", "nope"], "unknown protocol 'nope'"),
    (["train", "--headless", "--sim-resonance", "40"], "--sim-resonance"),
    (["replay", "--headless", "missing.sqlite"], "no such file"),
    (["analyze", "missing.txt"], "no such file"),
    (["train", "--source", "ble", "--headless", "--speed", "5"], "real time"),
    (["train", "--source", "virtual", "--speed", "max", "--screenshot", "x.png"], "--headless"),
])
def test_bad_arguments(capsys, argv, pattern):
    code, _, err = _run(capsys, *argv)
    _one_line_error(code, err, pattern)


def test_malformed_protocol_file(tmp_path, capsys):
    p = tmp_path / "p.toml"
    p.write_text('[[step]]\nminutes = 2\nrate_bpm = "fast"\n')
    code, _, err = _run(capsys, "train", "--headless", "--protocol", str(p),
                        "--out", str(tmp_path / "s.sqlite"))
    _one_line_error(code, err, "'rate_bpm' must be a number")


def test_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "f"
    blocker.write_text("")
    code, _, err = _run(capsys, "train", "--headless", "--speed", "max", "--duration", "30",
                        "--out", str(blocker / "s.sqlite"))
    _one_line_error(code, err, "cannot write a recording")


def test_existing_out_is_never_overwritten(tmp_path, capsys):
    out = tmp_path / "s.sqlite"
    out.write_bytes(b"keep me")
    code, _, err = _run(capsys, "train", "--headless", "--out", str(out))
    _one_line_error(code, err, "already exists")
    assert out.read_bytes() == b"keep me"


@pytest.mark.parametrize("content, pattern", [
    (b"", "no RR values"),
    (b"not,numbers\nx,y\n", "RR column"),
    (b"abc\ndef\n", "not a number"),
    (b"90000\n80000\n", "physiological"),
    (b"SQLite format 3\x00" + bytes(200), "not a biobreath session"),
])
def test_analyze_bad_files(tmp_path, capsys, content, pattern):
    f = tmp_path / "rr.txt"
    f.write_bytes(content)
    code, _, err = _run(capsys, "analyze", str(f))
    _one_line_error(code, err, pattern)


def test_replay_rejects_files_that_are_not_ours(tmp_path, capsys):
    f = tmp_path / "x.sqlite"
    f.write_text("800\n900\n")
    code, _, err = _run(capsys, "replay", "--headless", str(f))
    _one_line_error(code, err, "not a biobreath session")


def test_no_display_suggests_headless(monkeypatch, capsys, tmp_path):
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    if sys.platform != "linux":
        pytest.skip("display detection is Linux-specific")
    code, _, err = _run(capsys, "train", "--out", str(tmp_path / "s.sqlite"))
    _one_line_error(code, err, "--headless")
    assert not (tmp_path / "s.sqlite").exists()


def test_help_on_every_command():
    for argv in (["--help"], ["train", "--help"], ["replay", "--help"], ["analyze", "--help"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 0


ISSUE_KEYS = ("n_beats duration_s artifact_pct mean_rr_ms mean_hr_bpm min_hr_bpm max_hr_bpm "
              "sdnn_ms rmssd_ms sdsd_ms nn50 pnn50_pct hrv_triangular_index vlf_ms2 lf_ms2 hf_ms2 "
              "total_power_ms2 vlf_pct lf_pct hf_pct lf_nu hf_nu lf_hf vlf_peak_hz lf_peak_hz "
              "hf_peak_hz sd1_ms sd2_ms dfa_alpha1 dfa_alpha2 sampen coherence_mean").split()


ASSESSMENT_RATES = (6.5, 6.0, 5.5, 5.0, 4.5)  # protocols/resonance-assessment.toml, in order


def _record_assessment(out, resonance_bpm, seed):
    assert main(["train", "--headless", "--speed", "max", "--protocol", "resonance-assessment",
                 "--sim-resonance", str(resonance_bpm), "--sim-seed", str(seed),
                 "--out", str(out)]) == 0
    return out


def _nearest_step(resonance_bpm):
    return min(ASSESSMENT_RATES, key=lambda r: abs(r - resonance_bpm))


SIM_RESONANCE = 5.5


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    return _record_assessment(tmp_path_factory.mktemp("rec") / "assessment.sqlite",
                              SIM_RESONANCE, seed=4)


def test_analyze_json_carries_every_metric_and_its_parameters(recorded, capsys):
    capsys.readouterr()
    rr = ROOT / "tests" / "data" / "systole_rr.txt"
    code, out, err = _run(capsys, "analyze", "--json", str(recorded), str(rr))
    assert code == 0, err
    session, text = [json.loads(line) for line in out.splitlines()]
    for obj in (session, text):
        assert set(ISSUE_KEYS) <= set(obj)
        assert obj["parameters"]["artifacts"]["mode"] == "auto"
        assert obj["parameters"]["frequency_domain"]["welch_window_s"] == 256
        assert obj["parameters"]["coherence"]["window_s"] == 64
    assert text["n_beats"] == 245
    assert 700 < session["n_beats"] < 900 and 700 < session["duration_s"] < 740
    assert session["coherence_mean"] > text["coherence_mean"]
    steps = session["resonance"]["steps"]
    assert [st["rate_bpm"] for st in steps] == pytest.approx(list(ASSESSMENT_RATES))
    # How often it is the step nearest the simulated resonance: tests/test_assess.py.
    assert abs(session["resonance"]["best_rate_bpm"] - _nearest_step(SIM_RESONANCE)) <= 0.5


# The simulated person resonates at a known rate: the assessment must pick the protocol step
# nearest it or, off by noise, a neighbour (how often exactly: tests/test_assess.py over several
# seeds, benchmarks/bench_assess.py over many).
@pytest.mark.parametrize("resonance_bpm, seed", [(4.5, 1), (5.0, 2), (6.0, 1), (6.5, 2)])
def test_resonance_assessment_finds_the_simulated_resonance(tmp_path, capsys, resonance_bpm,
                                                             seed):
    out = _record_assessment(tmp_path / "assessment.sqlite", resonance_bpm, seed)
    capsys.readouterr()
    code, stdout, err = _run(capsys, "analyze", "--json", str(out))
    assert code == 0, err
    resonance = json.loads(stdout)["resonance"]
    assert abs(resonance["best_rate_bpm"] - _nearest_step(resonance_bpm)) <= 0.5
    # The winner is the step nearest the resonance fitted to every step, reported with it.
    rates = [st["rate_bpm"] for st in resonance["steps"]]
    nearest = min(rates, key=lambda r: abs(r - resonance["fit"]["rate_bpm"]))
    assert resonance["best_rate_bpm"] == nearest


def test_analyze_artifacts_none_and_windows(recorded, capsys):
    capsys.readouterr()
    code, out, _ = _run(capsys, "analyze", "--json", "--artifacts", "none", str(recorded))
    assert code == 0 and json.loads(out)["parameters"]["artifacts"]["mode"] == "none"
    code, out, _ = _run(capsys, "analyze", "--json", "--window", "300", "--step", "60",
                        str(recorded))
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == 7
    assert [r["window_start_s"] for r in rows] == [0, 60, 120, 180, 240, 300, 360]
    assert all(set(ISSUE_KEYS) <= set(r) for r in rows)


def test_analyze_plot(recorded, tmp_path, capsys):
    png = tmp_path / "report.png"
    code, _, err = _run(capsys, "analyze", "--plot", str(png), str(recorded))
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 50_000


def test_analyze_plot_draws_a_file_name_as_written(recorded, tmp_path, capsys):
    """Two "$" in a file's name are not mathematics: matplotlib raised on this one."""
    odd = tmp_path / "cost $x^{ \\frac$.sqlite"
    odd.write_bytes(recorded.read_bytes())
    png = tmp_path / "odd.png"
    code, _, err = _run(capsys, "analyze", "--plot", str(png), str(odd))
    assert code == 0 and not err, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_analyze_step_needs_window(recorded, capsys):
    code, _, err = _run(capsys, "analyze", "--step", "30", str(recorded))
    _one_line_error(code, err, "--step needs --window")


def test_analyze_too_few_beats_gives_nan_with_reason(tmp_path, capsys):
    f = tmp_path / "short.txt"
    f.write_text("\n".join(["800", "810", "790", "805", "800", "795"]))
    code, out, err = _run(capsys, "analyze", "--json", str(f))
    assert code == 0, err
    obj = json.loads(out)
    assert obj["rmssd_ms"] > 0 and obj["lf_ms2"] is None and obj["dfa_alpha2"] is None
    assert any("LF" in n or "lf" in n for n in obj["notes"])


def test_virtual_straps_for_two_people_over_bleak(tmp_path, capsys):
    from biobreath.files.recording import read_session

    out = tmp_path / "group.sqlite"
    code, stdout, err = _run(capsys, "train", "--source", "virtual", "--device", "A",
                             "--device", "B", "--headless", "--speed", "max", "--duration", "90",
                             "--out", str(out))
    assert code == 0, err
    data = read_session(out)
    assert [d.name.split()[:2] for d in data.devices] == [["Polar", "H10"], ["Polar", "H10"]]
    counts = np.bincount(data.device_ids)
    assert counts[1] > 80 and counts[2] > 80  # both people's beats, kept apart by device_id
    assert data.meta["source"]["kind"] == "virtual"
    # One headless line per 10 s breath of the 6/min pacer, at 0:10 ... 1:30.
    rows = [line.split() for line in stdout.splitlines() if re.match(r"\s*\d+:\d\d\s", line)]
    assert [r[0] for r in rows] == [f"{s // 60}:{s % 60:02d}" for s in range(10, 91, 10)]
    assert [r[1] for r in rows] == [str(n) for n in range(1, 10)]
    assert all(r[2] == "6.0/min" for r in rows)
    # analyze reports each person of a group session on its own line.
    code, stdout, err = _run(capsys, "analyze", "--json", str(out))
    rows = [json.loads(line) for line in stdout.splitlines()]
    assert code == 0, err
    assert len(rows) == 2 and rows[0]["address"] != rows[1]["address"]
    assert all(r["n_beats"] > 80 for r in rows)


def test_scan_finds_the_virtual_strap(capsys):
    code, out, _ = _run(capsys, "scan", "--virtual", "--timeout", "1")
    assert code == 0 and "Polar H10" in out and "dBm" in out


def test_no_bluetooth_is_one_sentence_and_leaves_no_empty_recording(tmp_path, capsys,
                                                                     monkeypatch):
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path}/no-such-bus")
    out = tmp_path / "ble.sqlite"
    code, _, err = _run(capsys, "train", "--source", "ble", "--headless", "--out", str(out))
    _one_line_error(code, err, "Bluetooth")
    assert not out.exists()
    code, _, err = _run(capsys, "scan")
    _one_line_error(code, err, "Bluetooth")
