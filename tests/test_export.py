"""Sessions exported for other tools (Kubios text, CSV, EDF+, WFDB, JSON): export then import
gives back the same beats (times to each format's resolution), a group session gives one set of
files per person, and nothing is ever overwritten.

Sessions are made in-process: a virtual Polar H10 (ECG and accelerometer too) on the virtual-time
loop, two of them for a group session, and a small recording written with the recorder itself
for markers. EDF and WFDB need pyedflib and wfdb (the ``test`` extra installs them).
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from biobreath.core.pacer import Pacer
from biobreath.errors import RecordingError, SessionFileError
from biobreath.events import DeviceInfo, Marker
from biobreath.files.export import EXPORT_FORMATS, export_session
from biobreath.files.protocols import load_protocol
from biobreath.files.readers import read_rr, read_rr_all
from biobreath.files.recording import Recorder, read_session
from biobreath.offline.analysis import analyze_file
from biobreath.session import Session
from biobreath.session.recorder import RecordingListener
from biobreath.sim.physiology import SimParams
from biobreath.sim.virtual_source import open_virtual_straps
from biobreath.sim.virtual_time import VirtualTimeLoop, loop_clock

NEEDS = {"edf": "pyedflib", "wfdb": "wfdb"}
MAIN = {"kubios": ".kubios.txt", "csv": ".beats.csv", "edf": ".edf", "wfdb": ".hea",
        "json": ".json"}
TIME_RESOLUTION_S = {"kubios": 1e-6, "csv": 1e-6, "edf": 1e-4, "wfdb": 1 / 1024, "json": 0.0}
"""What each format keeps of a beat time: written to 6 decimals (kubios, csv), EDF+ annotation
onsets in 100 µs units, WFDB annotations at 1024 samples per second, JSON exactly."""


def _virtual(path, labels, seconds, **sim):
    async def main():
        pacer = Pacer(load_protocol("coherence"))
        source = open_virtual_straps(labels, sim_params=SimParams(seed=4, **sim), pacer=pacer)
        await Session(source, loop_clock(), pacer, duration_s=seconds,
                      listeners=[RecordingListener(path)]).run()

    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        runner.run(main())
    return path


def _with_markers(path):
    """A small recording written with the recorder: one strap, beats (one judged an artifact),
    pacer breaths, three markers (one of them for the strap, one long and not in English) and a
    stop."""
    rec = Recorder(path)
    rec.set_meta(source={"kind": "test"}, duration_s=20.0)
    rec.device_id(DeviceInfo("Strap A", "AA:BB"))
    rec.event(0.0, "session_start")
    t = 0.0
    for i in range(22):
        ticks = 840 + 10 * (i % 3)
        t += ticks / 1024
        row = rec.beat("AA:BB", ticks, ticks * 1000 / 1024, t, t + 0.3)
        rec.judge(row, i == 7, "ectopic" if i == 7 else "")
    for n in range(2):
        rec.event(10.0 * n, "breath", {"n": n, "label": "paced", "inhale_s": 4.0,
                                       "hold_in_s": 0.0, "exhale_s": 6.0, "hold_out_s": 0.0})
    rec.event(5.5, "marker", "eyes closed")
    rec.event(12.25, "marker", {"text": "cough"}, device="AA:BB")
    rec.event(15.0, "marker", "Schultern sinken, Atem ruhig..—während Übung")
    rec.event(20.0, "session_stop")
    rec.close()
    return path


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    d = tmp_path_factory.mktemp("sessions")
    return {"h10": _virtual(d / "h10.sqlite", [], 60.0, ectopic_rate=0.04),
            "group": _virtual(d / "group.sqlite", ["A", "B"], 40.0),
            "markers": _with_markers(d / "markers.sqlite")}


def _need(to):
    if to in NEEDS:
        pytest.importorskip(NEEDS[to])


def _main(files, to):
    return [f for f in files if f.name.endswith(MAIN[to])]


def _check_round_trip(to, orig, back):
    """``back`` (read from the export) holds ``orig``'s beats, to the format's resolution."""
    res = TIME_RESOLUTION_S[to]
    assert back.rr_ms.size == orig.rr_ms.size
    if to in ("edf", "wfdb"):
        # Times only, on the strap's clock: every RR comes back as the strap measured it (the
        # first one too: its opening beat is annotated), not with the beat timer's steps.
        np.testing.assert_allclose(back.rr_ms, orig.rr_ms, rtol=0, atol=1000 * res + 1e-6)
        assert np.abs(np.diff(orig.beat_time_s) * 1000 - orig.rr_ms[1:]).max() > 20  # steps
        # Each beat within the timer's steps of its recorded time, centred on them.
        shift = back.beat_time_s - orig.beat_time_s
        assert np.abs(shift).max() < 0.5 and abs(np.median(shift)) <= res
        flagged = orig.artifact | np.r_[False, orig.artifact[:-1]]  # both sides of the beat
        np.testing.assert_array_equal(back.artifact, flagged)
    else:
        np.testing.assert_allclose(back.beat_time_s, orig.beat_time_s, rtol=0,
                                   atol=res / 2 + 1e-9)
        np.testing.assert_allclose(back.rr_ms, orig.rr_ms, rtol=0,
                                   atol=5e-4 + 1e-9 if to == "kubios" else 0)
        if to != "kubios":
            np.testing.assert_array_equal(back.artifact, orig.artifact)


@pytest.mark.parametrize("to", EXPORT_FORMATS)
def test_export_then_import_gives_back_the_same_beats(tmp_path, sessions, to):
    _need(to)
    (orig,) = read_rr_all(sessions["h10"])
    assert orig.artifact.any()  # the live detector judged some beats artifacts
    files = export_session(sessions["h10"], to, tmp_path)
    (main,) = _main(files, to)
    (back,) = read_rr_all(main)  # the format detected from the content
    _check_round_trip(to, orig, back)
    if to != "kubios":  # the strap and the person come back too
        assert back.person == "person 1" and back.device.name == orig.device.name


@pytest.mark.parametrize("to", EXPORT_FORMATS)
def test_a_group_session_exports_one_set_per_person(tmp_path, sessions, to):
    _need(to)
    people = read_rr_all(sessions["group"])
    files = export_session(sessions["group"], to, tmp_path)
    mains = _main(files, to)
    assert len(mains) == 2
    for orig, main in zip(people, mains):
        tag = f"-person{orig.person[-1]}-{orig.device.address.replace(':', '')}"
        assert tag in main.name
        assert {f.name.split(".")[0] for f in files if tag in f.name} == {main.name.split(".")[0]}
        (back,) = read_rr_all(main)
        _check_round_trip(to, orig, back)


def test_the_csv_set_holds_beats_breaths_markers_ecg_and_acc(tmp_path, sessions):
    data = read_session(sessions["h10"])
    files = {f.name.split(".", 1)[1]: f for f in export_session(sessions["h10"], "csv", tmp_path)}
    assert set(files) == {"beats.csv", "breaths.csv", "ecg.csv", "acc.csv"}  # no markers here
    beats = files["beats.csv"].read_text().splitlines()
    assert beats[0] == "time_s,rr_ms,rr_ticks,artifact,device,person"
    assert len(beats) == 1 + data.rr_ms.size
    t, ms, ticks, art, dev, person = beats[1].split(",")
    assert int(ticks) == data.rr_ticks[0] and float(ms) == pytest.approx(data.rr_ms[0], abs=5e-4)
    assert dev == data.devices[0].name and person == "person 1"
    breaths = [e for e in data.events if e[2] == "breath"]
    rows = files["breaths.csv"].read_text().splitlines()
    assert rows[0] == "t_s,n,label,inhale_s,hold_in_s,exhale_s,hold_out_s"
    assert len(rows) == 1 + len(breaths) and rows[2].startswith("10.000000,1,")
    ecg = np.loadtxt(files["ecg.csv"], delimiter=",", skiprows=1)
    np.testing.assert_array_equal(ecg[:, 1], data.ecg[0].values)
    np.testing.assert_allclose(ecg[:, 0], data.ecg[0].t, atol=5e-7)
    acc = np.loadtxt(files["acc.csv"], delimiter=",", skiprows=1)
    np.testing.assert_array_equal(acc[:, 1:], data.acc[0].values)
    # Markers, when the session has some.
    files = {f.name.split(".", 1)[1]: f
             for f in export_session(sessions["markers"], "csv", tmp_path)}
    assert set(files) == {"beats.csv", "breaths.csv", "markers.csv"}
    assert files["markers.csv"].read_text().splitlines() == [
        "t_s,device,value", "5.500000,,eyes closed", '12.250000,Strap A,"{""text"": ""cough""}"',
        '15.000000,,"Schultern sinken, Atem ruhig..—während Übung"']


def _on_grid(t, fs):
    """Each sample's index on the signal grid, and which samples have their grid point alone
    (where frames were re-anchored by a fraction of a sample, the later sample takes it)."""
    idx = np.rint(t * fs).astype(int)
    _, first, counts = np.unique(idx, return_index=True, return_counts=True)
    one = np.zeros(idx.size, bool)
    one[first[counts == 1]] = True
    assert one.mean() > 0.99
    return idx, one


def test_the_edf_holds_signals_beats_steps_and_markers(tmp_path, sessions):
    pyedflib = pytest.importorskip("pyedflib")
    data = read_session(sessions["h10"])
    (path,) = export_session(sessions["h10"], "edf", tmp_path)
    r = pyedflib.EdfReader(str(path))
    try:
        assert r.getSignalLabels() == ["ECG", "Accel X", "Accel Y", "Accel Z", "RR",
                                       "Pacer phase"]
        assert list(r.getSampleFrequencies()) == [130, 25, 25, 25, 4, 4]
        onsets, _, texts = r.readAnnotations()
        # The file starts at the whole second before the first thing in it (the session's 0,
        # the beat that opened the first interval, the first ECG or ACC sample).
        origin = -float(onsets[list(texts).index("session start")])
        opening = origin + next(o for o, x in zip(onsets, texts) if x.startswith("R-peak"))
        assert origin == np.floor(min(0.0, opening, data.ecg[0].t[0], data.acc[0].t[0]))
        ecg = r.readSignal(0)
        idx, one = _on_grid(data.ecg[0].t - origin, 130)
        np.testing.assert_allclose(ecg[idx][one], data.ecg[0].values[one], atol=0.51)  # 1 µV
        acc = r.readSignal(3)
        idx, one = _on_grid(data.acc[0].t - origin, 25)
        np.testing.assert_allclose(acc[idx][one], data.acc[0].values[one, 2], atol=0.51)
        g = origin + np.arange(r.getNSamples()[4]) / 4
        rr = r.readSignal(4)
        # Each interval's RR from the beat that opens it to the one that closes it, as annotated.
        beats = origin + np.array([o for o, x in zip(onsets, texts) if x.startswith("R-peak")])
        k = np.searchsorted(beats[1:], g)
        ok = k < data.rr_ms.size
        np.testing.assert_allclose(rr[ok], data.rr_ms[k[ok]], atol=0.05)
        phase = r.readSignal(5)  # the coherence pacer: 10 s breaths from the session start
        np.testing.assert_allclose(phase[g >= 0], np.mod(g[g >= 0] / 10, 1), atol=1e-4)
        assert "step 1 (6.0/min): Coherence breathing" in texts
        assert sum(x.startswith("R-peak") for x in texts) == data.rr_ms.size + 1
        assert sum(x == "R-peak (artifact)" for x in texts) == int(data.artifact.sum())
    finally:
        r.close()
    (path,) = export_session(sessions["markers"], "edf", tmp_path)
    r = pyedflib.EdfReader(str(path))
    try:
        onsets, _, texts = r.readAnnotations()
        marks = {str(x): float(o) for o, x in zip(onsets, texts) if str(x).startswith("marker")}
        # EDF+ annotations are UTF-8, and edflib keeps 40 bytes of each: cut at a character.
        assert marks == {"marker: eyes closed": 5.5, 'marker: {"text": "cough"}': 12.25,
                         "marker: Schultern sinken, Atem ruhig..": 15.0}
        assert r.getSignalLabels() == ["RR", "Pacer phase"]  # no ECG nor ACC recorded
    finally:
        r.close()


def test_a_marker_holding_an_object_reads_as_the_same_note_everywhere(sessions):
    """A marker another tool wrote as a JSON object is its JSON text in the replay, the exports,
    the report and the marker segments alike (the report had Python's repr of it)."""
    from biobreath.files.recording import read_events
    from biobreath.offline.pdf_report import load_report
    from biobreath.offline.segments import session_markers

    path = sessions["markers"]
    note = '{"text": "cough"}'
    replayed = [e.text for e in read_events(read_session(path)) if isinstance(e, Marker)]
    assert replayed[1] == note
    assert load_report(path).markers[1] == (12.25, note)
    assert session_markers(path)[1] == (12.25, note)


def test_the_wfdb_record_holds_the_ecg_and_names_the_strap(tmp_path, sessions):
    wfdb = pytest.importorskip("wfdb")
    data = read_session(sessions["h10"])
    files = export_session(sessions["h10"], "wfdb", tmp_path)
    assert sorted(f.suffix for f in files) == [".atr", ".dat", ".hea"]
    rec = wfdb.rdrecord(str(tmp_path / "h10"))
    assert rec.fs == 130 and rec.units == ["uV"] and rec.sig_name == ["ECG"]
    ann = wfdb.rdann(str(tmp_path / "h10"), "atr")
    (origin,) = [float(c.split()[5]) for c in rec.comments if c.startswith("time origin")]
    opening = origin + ann.sample[0] / ann.fs
    assert origin == np.floor(min(0.0, opening, data.ecg[0].t[0]))
    idx, one = _on_grid(data.ecg[0].t - origin, 130)
    np.testing.assert_allclose(rec.p_signal[idx, 0][one], data.ecg[0].values[one])
    assert f"device: {data.devices[0].name}" in rec.comments and "person: person 1" in \
        rec.comments
    assert ann.fs == 1024 and ann.symbol.count("Q") == int(data.artifact.sum())
    # Without an ECG: a header with no signals, and the beats.
    files = export_session(sessions["markers"], "wfdb", tmp_path)
    assert sorted(f.suffix for f in files) == [".atr", ".hea"]
    assert wfdb.rdheader(str(tmp_path / "markers")).n_sig == 0
    assert read_rr(tmp_path / "markers.hea").rr_ms.size == 22


def test_the_wfdb_record_notes_markers_and_steps(tmp_path, sessions):
    """Markers and protocol steps are NOTE annotations beside the beats, at their times, their
    text UTF-8 in the aux string (which the wfdb package reads a byte to a character)."""
    wfdb = pytest.importorskip("wfdb")
    export_session(sessions["markers"], "wfdb", tmp_path)
    ann = wfdb.rdann(str(tmp_path / "markers"), "atr")
    assert np.all(np.diff(ann.sample) >= 0)
    notes = {aux.encode("latin-1").decode("utf-8"): s / ann.fs
             for s, sym, aux in zip(ann.sample, ann.symbol, ann.aux_note) if sym == '"'}
    step = next(k for k in notes if k.startswith("step 1 "))
    assert notes.pop(step) == 1 / 1024  # sample 0 holds the file's definitions
    assert notes == {"marker: eyes closed": 5.5, 'marker: {"text": "cough"}': 12.25,
                     "marker: Schultern sinken, Atem ruhig..—während Übung": 15.0}
    assert ann.symbol.count("N") + ann.symbol.count("Q") == 23  # the beats, as before
    data = read_session(sessions["h10"])
    export_session(sessions["h10"], "wfdb", tmp_path)
    ann = wfdb.rdann(str(tmp_path / "h10"), "atr")
    assert [a for s, a in zip(ann.symbol, ann.aux_note) if s == '"'] == [
        "step 1 (6.0/min): Coherence breathing"]
    assert read_rr(tmp_path / "h10.hea").rr_ms.size == data.rr_ms.size  # notes are no beats


def test_a_wfdb_note_is_cut_to_its_255_bytes_at_a_character(tmp_path):
    wfdb = pytest.importorskip("wfdb")
    from datetime import datetime

    from biobreath.files.wfdb_records import write_wfdb

    long = "ü" * 200  # 400 bytes of UTF-8
    write_wfdb(tmp_path / "r", start=datetime(2026, 1, 1), origin_s=0.0,
               beats_t=np.array([1.0, 2.0]), beats_normal=np.array([True, True]), ecg=None,
               comments=[], notes=[(1.5, long), (0.5, "first\nline")])
    ann = wfdb.rdann(str(tmp_path / "r"), "atr")
    assert ann.symbol == ['"', "N", '"', "N"]
    assert ann.aux_note[0] == "first line"
    assert ann.aux_note[2].encode("latin-1").decode("utf-8") == "ü" * 127


def test_file_names_keep_people_s_names_in_any_script(tmp_path):
    """In a group session each person's files are named for them: accents dropped, other
    scripts kept (they used to lose every letter beyond ASCII: "Zoë" became "Zo"); a WFDB
    record name is ASCII by the format's rule."""
    path = tmp_path / "group.sqlite"
    rec = Recorder(path)
    rec.set_meta(source={"kind": "test"}, duration_s=5.0)
    for k, (name, address) in enumerate([("Zoë Ødegård", "AA:01"), ("李明", "AA:02")]):
        rec.device_id(DeviceInfo(f"Strap {k}", address), person=name)
        t = 0.0
        for _ in range(5):
            t += 0.8
            rec.judge(rec.beat(address, 820, 820 * 1000 / 1024, t, t + 0.3), False, "")
    rec.close()
    (tmp_path / "csv").mkdir()
    (tmp_path / "wfdb").mkdir()
    names = sorted(f.name for f in export_session(path, "csv", tmp_path / "csv"))
    assert names == ["group-ZoeØdegard-AA01.beats.csv", "group-李明-AA02.beats.csv"]
    pytest.importorskip("wfdb")
    records = {f.stem for f in export_session(path, "wfdb", tmp_path / "wfdb")}
    assert records == {"group-ZoeOdegard-AA01", "group-AA02"}


def test_the_json_dump_holds_everything(tmp_path, sessions):
    data = read_session(sessions["h10"])
    (path,) = export_session(sessions["h10"], "json", tmp_path)
    obj = json.loads(path.read_text())
    assert obj["format"] == "biobreath-export" and obj["format_version"] == 1
    assert obj["meta"]["session_id"] == data.meta["session_id"]
    assert obj["devices"][0]["address"] == data.devices[0].address
    assert obj["beats"]["rr_ticks"] == data.rr_ticks.tolist()
    assert obj["beats"]["arrival_s"] == data.arrival_s.tolist()
    assert len(obj["events"]) == len(data.events)
    assert obj["signals"]["ecg"]["uv"] == data.ecg[0].values.tolist()
    assert obj["signals"]["acc"]["mg"] == data.acc[0].values.tolist()


def test_exports_can_be_analysed_like_the_session(tmp_path, sessions):
    pytest.importorskip("pyedflib")
    (ref,) = analyze_file(sessions["h10"], artifact_mode="none")
    for to in ("kubios", "edf"):
        (main,) = _main(export_session(sessions["h10"], to, tmp_path), to)
        (a,) = analyze_file(main, artifact_mode="none")
        assert a.n_beats == ref.n_beats
        if to == "kubios":
            assert a.hrv.time.rmssd_ms == pytest.approx(ref.hrv.time.rmssd_ms, abs=1e-3)


def test_an_export_never_overwrites(tmp_path, sessions):
    first = export_session(sessions["markers"], "kubios", tmp_path)
    before = first[0].read_bytes()
    with pytest.raises(RecordingError) as e:
        export_session(sessions["markers"], "kubios", tmp_path)
    msg = str(e.value)
    assert "already exists" in msg and str(first[0]) in msg and "\n" not in msg
    assert first[0].read_bytes() == before
    # One file of a set taken: nothing of the set is written.
    taken = tmp_path / "markers.breaths.csv"
    taken.write_text("mine\n")
    with pytest.raises(RecordingError, match="markers.breaths.csv already exists"):
        export_session(sessions["markers"], "csv", tmp_path)
    assert not (tmp_path / "markers.beats.csv").exists() and taken.read_text() == "mine\n"


def test_where_exports_go_and_what_is_refused(tmp_path, sessions):
    files = export_session(sessions["markers"], "json", tmp_path / "named")
    assert [f.name for f in files] == ["named.json"]
    files = export_session(sessions["markers"], "json", tmp_path / "other.json")
    assert [f.name for f in files] == ["other.json"]
    with pytest.raises(RecordingError, match="no such folder"):
        export_session(sessions["markers"], "json", tmp_path / "missing" / "x")
    with pytest.raises(RecordingError, match="unknown export format 'mat'"):
        export_session(sessions["markers"], "mat", tmp_path)
    text = tmp_path / "rr.txt"
    text.write_text("800\n810\n")
    with pytest.raises(SessionFileError) as e:
        export_session(text, "csv", tmp_path)
    assert str(e.value).startswith(f"{text}: ") and "\n" not in str(e.value)


def test_the_command_line_offers_every_export_format():
    from biobreath import cli
    from biobreath.files import export

    assert tuple(cli.EXPORT_FORMATS) == tuple(export.EXPORT_FORMATS)
