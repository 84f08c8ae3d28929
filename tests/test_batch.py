"""``analyze`` of many files: folders, one table, segments, worker processes and a Dask cluster.

Sessions are recorded on the virtual clock (simulated strap, ``ScaledClock(None)``); the Dask
tests share one small LocalCluster (2 worker processes)."""

import asyncio
import csv
import io
import json
import math
import sys

import numpy as np
import pytest

from biobreath.cli import main
from biobreath.clock import ScaledClock
from biobreath.core import hrv
from biobreath.core.pacer import Pacer
from biobreath.files.protocols import load_protocol
from biobreath.files.recording import read_session
from biobreath.offline.batch import find_inputs, flatten
from biobreath.session import Session, SessionListener
from biobreath.session.recorder import RecordingListener
from biobreath.sim.physiology import SimParams
from biobreath.sim.source import SimulatedStrap

MARKS = {12: "eyes closed", 24: "talking"}  # breath number (10 s breaths) -> marker text


class _Marker(SessionListener):
    """Marks the session as the therapist would, at the end of chosen breaths."""

    def on_start(self, session):
        self.session = session

    def on_breath(self, report):
        if report.n in MARKS:
            self.session.mark(MARKS[report.n])


def _record(out, protocol, seconds, seed, listeners=()):
    pacer = Pacer(load_protocol(protocol))
    session = Session(SimulatedStrap(SimParams(seed=seed), pacer), ScaledClock(None), pacer,
                      duration_s=seconds, listeners=[RecordingListener(out), *listeners])
    asyncio.run(session.run())
    return out


def _rr_text(path, n, seed):
    rng = np.random.default_rng(seed)
    rr = 850 + 40 * np.sin(np.arange(n) * 2 * np.pi / 11) + rng.normal(0, 15, n)
    path.write_text("\n".join(f"{v:.1f}" for v in rr))
    return rr


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A big RR file first (it finishes last when run in parallel), then sessions and small
    files, and one bad file."""
    d = tmp_path_factory.mktemp("batch")
    _rr_text(d / "a_big.txt", 30_000, 1)
    _record(d / "b_assessment.sqlite", "resonance-assessment", 600, seed=6)
    _record(d / "c_marked.sqlite", "coherence", 360, seed=6, listeners=[_Marker()])
    _rr_text(d / "d_small.txt", 400, 2)
    (d / "e_bad.txt").write_text("heart\nbeats\n")
    _rr_text(d / "f_small.txt", 300, 3)
    return d


def _run(capsys, *argv):
    code = main(["analyze", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def _json_rows(out):
    return [json.loads(line) for line in out.splitlines()]


# --------------------------------------------------------------------------- a folder


def test_a_folder_gives_every_file_in_order_and_lists_the_failure_at_the_end(folder, capsys):
    code, out, err = _run(capsys, "--json", folder)
    assert code == 1
    rows = _json_rows(out)
    assert [r["file"].rsplit("/", 1)[1] for r in rows] == [
        "a_big.txt", "b_assessment.sqlite", "c_marked.sqlite", "d_small.txt", "f_small.txt"]
    lines = err.splitlines()
    assert lines[-2].startswith(f"biobreath: {folder / 'e_bad.txt'}: ")
    assert lines[-1] == "biobreath: 1 of 6 files failed"
    assert "Traceback" not in err and "\r" not in err  # no progress bar off a terminal


def test_progress_bar_only_on_a_terminal(folder, capsys, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    code = main(["analyze", "--json", str(folder / "d_small.txt"), str(folder / "f_small.txt")])
    assert code == 0
    shown = term.getvalue()
    assert "\r[" in shown and "2/2 files" in shown and "1/2 files" in shown
    assert len(_json_rows(capsys.readouterr().out)) == 2


def test_find_inputs_skips_only_what_it_can_name(tmp_path):
    (tmp_path / "rr.txt").write_text("800\n")
    for name in (".DS_Store", "s.sqlite-wal", "s.sqlite-shm", "report.png", "notes.pdf",
                 "100.hea", "100.atr", "100.dat", "x.beats.csv", "x.markers.csv", "x.ecg.csv",
                 "odd.dat", "y.markers.csv"):
        (tmp_path / name).write_text("")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.txt").write_text("800\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("")
    flat = find_inputs([tmp_path])
    names = [p.rsplit("/", 1)[1] for p in flat.files]
    # WFDB parts beside their header and CSV-export side files beside their beats are passed
    # over; a .dat or markers file with nothing beside it is analysed (and fails if bad).
    assert names == ["100.hea", "odd.dat", "rr.txt", "x.beats.csv", "y.markers.csv"]
    assert flat.summary() == (
        "skipped 9 files that are not recordings (SQLite journal: 2, figures or documents: 2, "
        "hidden: 1, parts of WFDB records (read through their .hea): 2, side files of CSV "
        "exports (read through their .beats.csv): 2); 1 subfolder not searched (add "
        "--recursive)")
    deep = find_inputs([tmp_path], recursive=True)
    assert [p.rsplit("/", 1)[1] for p in deep.files] == names + ["deep.txt"]
    assert deep.unsearched == 0
    # A file named on the command line is always analysed.
    assert find_inputs([tmp_path / "report.png"]).files == (str(tmp_path / "report.png"),)


def test_an_empty_folder_is_one_line(tmp_path, capsys):
    code, out, err = _run(capsys, tmp_path)
    assert code == 1 and out == ""
    assert err.splitlines() == [f"biobreath: {tmp_path}: no files to analyse in this folder "
                                "(add --recursive for its subfolders)"]
    (tmp_path / "figure.png").write_bytes(b"")
    code, out, err = _run(capsys, "--recursive", tmp_path)
    assert code == 1 and out == ""
    assert err.splitlines() == [f"biobreath: {tmp_path}: no files to analyse in this folder "
                                "(1 passed over as no recordings)"]


# --------------------------------------------------------------------------- the table


def test_csv_holds_what_json_prints_one_row_per_person(folder, tmp_path, capsys):
    files = [folder / "b_assessment.sqlite", folder / "d_small.txt"]
    code, out, _ = _run(capsys, "--json", *files)
    assert code == 0
    objects = _json_rows(out)
    table = tmp_path / "t.csv"
    code, out, err = _run(capsys, "--csv", table, *files)
    assert code == 0 and out == ""
    assert err.splitlines() == [f"biobreath: wrote 2 rows for 2 of 2 files to {table}"]
    with open(table, newline="") as f:
        reader = csv.DictReader(f)
        header, rows = reader.fieldnames, list(reader)
    assert len(set(header)) == len(header)
    assert header[:9] == ["file", "kind", "device", "address", "person", "segment", "start_s",
                          "end_s", "n_beats"]
    for obj, row in zip(objects, rows, strict=True):
        flat = flatten(obj)
        assert set(flat) <= set(header)
        for key in ("n_beats", "rmssd_ms", "lf_ms2", "dfa_alpha1", "coherence_mean", "start_s"):
            assert float(row[key]) == pytest.approx(obj[key], rel=1e-12)
        assert float(row["parameters.frequency_domain.welch_window_s"]) == 256
        assert row["parameters.artifacts.mode"] == "auto"
        assert row["notes"] == " | ".join(obj["notes"])
    session, text = rows
    assert session["person"] == "person 1" and session["address"] and text["person"] == ""
    steps = json.loads(session["resonance"])["steps"]
    assert [round(s["rate_bpm"], 1) for s in steps] == [6.5, 6.0, 5.5, 5.0]
    assert float(session["resonance.best_rate_bpm"]) in (6.5, 6.0, 5.5, 5.0)
    assert text["resonance"] == text["resonance.best_rate_bpm"] == ""
    # A metric JSON gives as null (too few beats for it) is an empty cell.
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("800\n810\n790\n805\n800\n795\n")
    code, _, _ = _run(capsys, "--csv", tmp_path / "tiny.csv", tiny)
    (row,) = csv.DictReader(open(tmp_path / "tiny.csv", newline=""))
    assert code == 0 and row["lf_ms2"] == "" and float(row["rmssd_ms"]) > 0


def test_csv_never_overwrites(folder, tmp_path, capsys):
    table = tmp_path / "t.csv"
    table.write_text("keep me")
    code, out, err = _run(capsys, "--csv", table, folder / "d_small.txt")
    assert code == 1 and out == ""
    assert err.splitlines() == [f"biobreath: {table} already exists; choose another --csv "
                                "(files are never overwritten)"]
    assert table.read_text() == "keep me"


def test_windows_in_the_table_carry_start_end_and_parameters(folder, tmp_path, capsys):
    table = tmp_path / "w.csv"
    code, _, _ = _run(capsys, "--csv", table, "--window", "120", "--step", "60",
                      folder / "d_small.txt")
    assert code == 0
    rows = list(csv.DictReader(open(table, newline="")))
    rr = np.loadtxt(folder / "d_small.txt")
    total_s = rr.sum() / 1000
    expected = math.floor((total_s - 120) / 60) + 1
    assert [float(r["start_s"]) for r in rows] == [60.0 * k for k in range(expected)]
    assert all(float(r["end_s"]) - float(r["start_s"]) == 120 for r in rows)
    assert all(r["parameters.frequency_domain.method"] == "welch" for r in rows)
    # Independent count: the beats that end inside each window.
    t = np.cumsum(rr) / 1000
    for r in rows:
        s = float(r["start_s"])
        assert int(r["n_beats"]) == np.count_nonzero((t >= s) & (t < s + 120))


# --------------------------------------------------------------------------- methods


def test_psd_and_detrend_reach_the_analysis_and_its_parameters(folder, capsys):
    f = folder / "d_small.txt"
    code, out, _ = _run(capsys, "--json", "--artifacts", "none", "--psd", "lomb", "--detrend",
                        "smoothness", "--lambda", "300", f)
    assert code == 0
    (obj,) = _json_rows(out)
    fd = obj["parameters"]["frequency_domain"]
    assert (fd["method"], fd["detrend"], fd["smoothness_lambda"]) == ("lomb",
                                                                      "smoothness_priors", 300)
    direct = hrv.frequency_domain(np.loadtxt(f), method="lomb", detrend="smoothness_priors",
                                  smoothness_lambda=300)
    assert obj["lf_ms2"] == pytest.approx(direct.lf_ms2, rel=1e-12)
    welch = hrv.frequency_domain(np.loadtxt(f))
    assert abs(obj["lf_ms2"] - welch.lf_ms2) > 1e-3 * welch.lf_ms2  # the option changed it


@pytest.mark.parametrize("argv, message", [
    (["--lambda", "300"], "--lambda needs --detrend smoothness"),
    (["--segments", "steps", "--window", "60"], "--segments and --window cannot be combined"),
    (["--jobs", "2", "--dask", "tcp://127.0.0.1:1"], "--jobs and --dask cannot be combined"),
])
def test_options_that_do_not_go_together(folder, capsys, argv, message):
    code, out, err = _run(capsys, *argv, folder / "d_small.txt")
    assert code == 1 and out == "" and len(err.splitlines()) == 1 and message in err


# --------------------------------------------------------------------------- segments


def test_segments_steps_follow_the_protocol(folder, capsys):
    f = folder / "b_assessment.sqlite"
    code, out, err = _run(capsys, "--json", "--segments", "steps", f)
    assert code == 0, err
    rows = _json_rows(out)
    protocol = load_protocol("resonance-assessment")
    # 600 s of a 12-minute protocol: the last step was never reached, and a note says so.
    assert [r["segment"] for r in rows] == [s.label for s in protocol.steps[:5]]
    assert all(any("ended before 1 of the protocol's 6 steps" in n for n in r["notes"])
               for r in rows)
    for k, r in enumerate(rows[1:], 1):
        # Each step begins at the breath boundary nearest its nominal start (2 min apart).
        period_before = 60 / (protocol.steps[k - 1].shape.rate_bpm
                              if protocol.steps[k - 1].shape else 6)
        assert abs(r["start_s"] - 120 * k) <= period_before / 2 + 1e-9
        assert r["start_s"] == rows[k - 1]["end_s"]
        # Paced steps: the heart rate swings at the breathing rate (LF peak at the pacer).
        assert r["lf_peak_hz"] == pytest.approx(protocol.steps[k].shape.rate_bpm / 60, abs=0.01)
    # Every interval lies in exactly one step.
    (whole,) = _json_rows(_run(capsys, "--json", f)[1])
    assert sum(r["n_beats"] for r in rows) == whole["n_beats"]


def test_segments_markers_split_at_each_marker(folder, capsys):
    f = folder / "c_marked.sqlite"
    code, out, err = _run(capsys, "--json", "--artifacts", "none", "--segments", "markers", f)
    assert code == 0, err
    rows = _json_rows(out)
    data = read_session(f)
    marks = [(t, v) for t, _, kind, v in data.events if kind == "marker"]
    assert [v for _, v in marks] == list(MARKS.values())
    assert [r["segment"] for r in rows] == ["start", *MARKS.values()]
    assert [r["start_s"] for r in rows[1:]] == [t for t, _ in marks]
    # Independent of our segmentation: the recorded beats between the marks.
    beat_t, rr = data.beat_time_s, data.rr_ms
    bounds = [-math.inf] + [t for t, _ in marks] + [math.inf]
    for r, lo, hi in zip(rows, bounds[:-1], bounds[1:]):
        m = (beat_t >= lo) & (beat_t < hi)
        assert abs(r["n_beats"] - np.count_nonzero(m)) <= 1
        assert r["mean_rr_ms"] == pytest.approx(rr[m].mean(), rel=0.01)
        assert r["rmssd_ms"] == pytest.approx(np.sqrt(np.mean(np.diff(rr[m]) ** 2)), rel=0.05)
    assert sum(r["n_beats"] for r in rows) == rr.size


def test_files_without_steps_or_markers_are_one_segment_with_a_note(folder, capsys):
    code, out, _ = _run(capsys, "--json", "--segments", "markers",
                        folder / "b_assessment.sqlite", folder / "d_small.txt")
    assert code == 0
    session, text = _json_rows(out)
    assert session["segment"] == text["segment"] == "whole file"
    assert "the session holds no markers" in session["notes"][0]
    assert "no markers in a text file" in text["notes"][0]
    code, out, _ = _run(capsys, "--segments", "steps", folder / "d_small.txt")
    assert code == 0 and "whole file" in out


@pytest.mark.parametrize("kind, session", [("markers", "c_marked.sqlite"),
                                           ("steps", "b_assessment.sqlite")])
@pytest.mark.parametrize("to, suffix", [("edf", ".edf"), ("wfdb", ".hea")])
def test_an_export_splits_as_the_session_does(folder, capsys, tmp_path, to, suffix, kind,
                                              session):
    """A session exported to EDF+ or WFDB keeps its markers and protocol steps as notes (each
    step where the pacer began it); ``--segments`` of the export gives the session's segments
    (to the format's time resolution), and every number of them (the RRs come back exactly)."""
    pytest.importorskip({"edf": "pyedflib", "wfdb": "wfdb"}[to])
    from biobreath.files.export import export_session

    f = folder / session
    files = export_session(f, to, tmp_path)
    (exported,) = [p for p in files if p.name.endswith(suffix)]
    rows = [_json_rows(_run(capsys, "--json", "--segments", kind, path)[1])
            for path in (f, exported)]
    # EDF+ keeps 40 bytes of a note: a long step label is cut there.
    assert all(theirs["segment"] == ours["segment"] or (
        to == "edf" and ours["segment"].startswith(theirs["segment"]))
        for ours, theirs in zip(*rows))
    assert len(rows[1]) == len(rows[0])
    if kind == "markers":
        assert [r["segment"] for r in rows[0]] == ["start", *MARKS.values()]
    else:
        assert len(rows[0]) == 5
    # The first segment opens with the first interval: its beat, on the strap's clock in the
    # export, lies within the timer's corrections of its recorded time.
    assert rows[1][0]["start_s"] == pytest.approx(rows[0][0]["start_s"], abs=0.5)
    for ours, theirs in zip(rows[0][1:], rows[1][1:]):
        assert theirs["start_s"] == pytest.approx(ours["start_s"], abs=1e-3)
    for ours, theirs in zip(*rows):
        assert theirs["n_beats"] == ours["n_beats"]
        assert theirs["rmssd_ms"] == pytest.approx(ours["rmssd_ms"], abs=0.05)


def test_another_tool_s_notes_are_markers(tmp_path, capsys):
    """In an EDF+ or WFDB file another tool wrote, every note that is no beat is a marker."""
    pyedflib = pytest.importorskip("pyedflib")
    wfdb = pytest.importorskip("wfdb")
    beats = np.cumsum(np.full(400, 0.85))
    notes = [(100.0, "task: mental arithmetic"), (200.0, "recovery")]
    path = tmp_path / "lab.edf"
    w = pyedflib.EdfWriter(str(path), 1, file_type=pyedflib.FILETYPE_EDFPLUS)
    w.set_number_of_annotation_signals(4)  # room for a beat or two and a note each second
    w.setSignalHeader(0, {"label": "Resp", "dimension": "a.u.", "sample_frequency": 1,
                          "physical_min": -1, "physical_max": 1, "digital_min": -32768,
                          "digital_max": 32767})
    for t in beats:
        w.writeAnnotation(float(t), -1, "N")
    for t, text in notes:
        w.writeAnnotation(t, -1, text)
    w.writeSamples([np.zeros(int(beats[-1]) + 2)])
    w.close()
    samples = np.r_[np.rint(beats * 250), 100 * 250, 200 * 250].astype(np.int64)
    order = np.argsort(samples, kind="stable")
    symbols = np.array(["N"] * beats.size + ['"', '"'])[order].tolist()
    aux = np.array([""] * beats.size + ["tâche", "repos"], dtype=object)[order].tolist()
    wfdb.wrann("lab", "atr", samples[order], symbol=symbols, aux_note=aux, fs=250,
               write_dir=str(tmp_path))
    (tmp_path / "lab.hea").write_text("lab 0 250\n")
    for name, labels in (("lab.edf", ["start", "task: mental arithmetic", "recovery"]),
                         ("lab.hea", ["start", "tâche", "repos"])):
        code, out, err = _run(capsys, "--json", "--segments", "markers", tmp_path / name)
        assert code == 0, err
        rows = _json_rows(out)
        assert [r["segment"] for r in rows] == labels
        assert [r["start_s"] for r in rows[1:]] == pytest.approx([100.0, 200.0], abs=1e-3)


# --------------------------------------------------------------------------- parallelism


def _lines(capsys, folder, *extra):
    code, out, err = _run(capsys, "--json", *extra, folder)
    return code, out, err


def test_worker_processes_give_the_same_lines_in_input_order(folder, capsys):
    one = _lines(capsys, folder)
    two = _lines(capsys, folder, "--jobs", "2")
    assert one[0] == two[0] == 1
    assert one[1] == two[1] and len(one[1].splitlines()) == 5
    assert one[2] == two[2]


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as c:
        yield c


def test_dask_gives_the_same_lines_in_input_order(folder, capsys, cluster):
    one = _lines(capsys, folder)
    on_dask = _lines(capsys, folder, "--dask", cluster.scheduler_address)
    assert one == on_dask


def test_dask_workers_read_relative_paths_where_they_are(folder, capsys, cluster,
                                                         monkeypatch):
    monkeypatch.chdir(folder)
    code, out, err = _run(capsys, "--json", "--dask", cluster.scheduler_address, "d_small.txt",
                          "e_bad.txt")
    assert code == 1
    assert [r["file"] for r in _json_rows(out)] == ["d_small.txt"]
    assert err.splitlines()[0].startswith("biobreath: e_bad.txt: ")


def test_dask_unreachable_is_one_line(folder, capsys):
    dask = pytest.importorskip("dask")
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code, out, err = _run(capsys, "--dask", "tcp://127.0.0.1:9", folder / "d_small.txt")
    assert code == 1 and out == ""
    (line,) = err.splitlines()
    assert line.startswith("biobreath: cannot reach the Dask scheduler at tcp://127.0.0.1:9")


def test_a_malformed_dask_address_is_one_line(folder, capsys):
    pytest.importorskip("distributed")
    code, out, err = _run(capsys, "--dask", "http://scheduler:8786", folder / "d_small.txt")
    assert code == 1 and out == ""
    (line,) = err.splitlines()
    assert line.startswith("biobreath: http://scheduler:8786 is no Dask scheduler address (")


def test_dask_missing_is_one_line(folder, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as if not installed
    code, out, err = _run(capsys, "--dask", "tcp://127.0.0.1:9", folder / "d_small.txt")
    assert code == 1 and out == ""
    assert err.splitlines() == ["biobreath: --dask needs dask.distributed: pip install "
                                "\"dask[distributed]\""]


def test_worker_processes_write_each_files_figure(folder, tmp_path, capsys):
    figures = tmp_path / "figures"
    figures.mkdir()
    code, _, err = _run(capsys, "--json", "--jobs", "2", "--plot", figures,
                        folder / "d_small.txt", folder / "f_small.txt")
    assert code == 0, err
    for name in ("d_small.png", "f_small.png"):
        assert (figures / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A second run refuses to overwrite them, file by file, and says so at the end.
    code, out, err = _run(capsys, "--json", "--jobs", "2", "--plot", figures,
                          folder / "d_small.txt", folder / "f_small.txt")
    assert code == 1 and out == ""
    assert [line.split(" already exists")[0] for line in err.splitlines()[:2]] == [
        f"biobreath: {figures / 'd_small.png'}", f"biobreath: {figures / 'f_small.png'}"]
