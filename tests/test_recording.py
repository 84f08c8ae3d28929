import sqlite3

import numpy as np
import pytest

from biobreath.errors import RecordingError, SessionFileError
from biobreath.events import DeviceInfo
from biobreath.files.readers import parse_rr_text, read_rr
from biobreath.files.recording import Recorder, read_session


def _record(path, n=5, close=True):
    rec = Recorder(path)
    rec.set_meta(source={"kind": "test"})
    rec.device_id(DeviceInfo("Strap A", "AA:BB"))
    for i in range(n):
        rec.notification("AA:BB", i + 1.0, bytes([0x10, 60, 0, 4]))
        row = rec.beat("AA:BB", 1024, 1000.0, i + 0.9, i + 1.0)
        rec.judge(row, i == 2, "ectopic" if i == 2 else "")
        rec.commit()
    rec.event(1.5, "battery", 80, "AA:BB")
    if close:
        rec.close()
    return rec


def test_round_trip(tmp_path):
    path = tmp_path / "s.sqlite"
    _record(path)
    s = read_session(path)
    assert s.complete
    assert s.rr_ticks.tolist() == [1024] * 5
    assert s.artifact.tolist() == [False, False, True, False, False]
    assert s.devices[0].name == "Strap A"
    assert s.events[-1][2:] == ("battery", 80)
    assert s.meta["format"] == "biobreath-session"


def test_schema_readable_without_biobreath(tmp_path):
    path = tmp_path / "s.sqlite"
    _record(path)
    db = sqlite3.connect(path)
    rows = db.execute("SELECT d.address, b.rr_ticks, b.beat_time_s FROM beats b "
                      "JOIN devices d ON d.id = b.device_id").fetchall()
    assert rows[0] == ("AA:BB", 1024, 0.9)
    assert db.execute("SELECT payload FROM notifications").fetchone()[0] == bytes([0x10, 60, 0, 4])


def test_never_overwrites(tmp_path):
    path = tmp_path / "s.sqlite"
    path.write_text("precious")
    with pytest.raises(RecordingError, match="already exists"):
        Recorder(path)
    assert path.read_text() == "precious"


def test_unwritable_location(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RecordingError, match="cannot write"):
        Recorder(blocker / "sub" / "s.sqlite")


def test_open_recording_readable_while_in_progress(tmp_path):
    path = tmp_path / "s.sqlite"
    rec = _record(path, close=False)
    s = read_session(path)
    assert not s.complete and s.rr_ms.size == 5
    rec.close()


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    (b"", "no RR values"),
    (b"hello\nworld\n", "not a number"),
    (b"\x00\x01\x02\xff\xfe", "not a text file"),
    (b"SQLite format 3\x00" + bytes(84), "not a biobreath session"),
])
def test_bad_files(tmp_path, content, message):
    path = tmp_path / "f.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SessionFileError, match=message):
        read_rr(path)


def test_truncated_session(tmp_path):
    path = tmp_path / "s.sqlite"
    _record(path, n=2000)
    data = path.read_bytes()
    cut = tmp_path / "cut.sqlite"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(SessionFileError, match="damaged|unreadable"):
        read_rr(cut)


@pytest.mark.parametrize("text, unit, first", [
    ("1000\n850\n900\n", "ms", 1000.0),
    ("1.0\n0.85\n0.9\n", "s", 1000.0),
    ("RR\n812\n790\n", "ms", 812.0),
    ("time,rr\n0.8,800\n1.6,790\n", "ms", 800.0),
    ("t;rr_s\n0.8;0.8\n1.6;0.79\n", "s", 800.0),
])
def test_rr_text_formats(text, unit, first):
    ms, found = parse_rr_text(text)
    assert found == unit and ms[0] == pytest.approx(first)


@pytest.mark.parametrize("text, message", [
    ("5000000\n6000000\n", "physiological"),
    ("-800\n-900\n", "positive"),
    ("nan\n800\n", "finite"),
    ("a,b\n1,2\n", "RR column"),
    ("time,rr\n0.8,800\n1.6,800\n1.2,800\n", "not increasing"),
    ("0\n800\n", "positive"),
])
def test_rr_text_rejects_nonsense(text, message):
    with pytest.raises(SessionFileError, match=message):
        parse_rr_text(text)


def test_ecg_and_acc_frames_round_trip(tmp_path):
    path = tmp_path / "s.sqlite"
    rec = Recorder(path)
    rec.ecg("AA", 10.0, 130.0, np.array([-32766, 32770, 5]))
    rec.ecg("AA", 10.0 + 3 / 130, 130.0, np.array([7, 8]))
    rec.acc("AA", 10.0, 25.0, np.array([[-9, -1, 999], [0, 0, 1000]]))
    rec.close()
    s = read_session(path)
    (ecg,) = s.ecg
    assert ecg.values.tolist() == [-32766, 32770, 5, 7, 8]
    assert np.allclose(np.diff(ecg.t), 1 / 130)
    (acc,) = s.acc
    assert acc.values.shape == (2, 3) and acc.values[0].tolist() == [-9, -1, 999]
