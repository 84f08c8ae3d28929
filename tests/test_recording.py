import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from biobreath.cli import main
from biobreath.errors import RecordingError, SessionFileError
from biobreath.events import Beat, DeviceInfo
from biobreath.files.readers import parse_rr_text, read_rr
from biobreath.files.recording import Recorder, default_session_path, read_events, read_session


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


def test_verdicts_reach_beats_written_before_and_after_the_last_commit(tmp_path):
    """Rows wait for the commit; a verdict lands on its beat whether the beat is still waiting
    or was written by an earlier commit, and a second strap's beats keep their own verdicts."""
    path = tmp_path / "s.sqlite"
    rec = Recorder(path)
    rows = []
    for i in range(6):
        rows.append(rec.beat("AA:BB" if i % 2 else "CC:DD", 1024, 1000.0, i + 0.9, i + 1.0))
        if i == 2:
            rec.commit()
    for i, row in enumerate(rows):  # the first three judged after their commit
        rec.judge(row, i in (1, 4), "ectopic" if i in (1, 4) else "")
    rec.close()
    db = sqlite3.connect(path)
    got = db.execute("SELECT d.address, b.beat_time_s, b.artifact, b.artifact_reason FROM beats b"
                     " JOIN devices d ON d.id = b.device_id ORDER BY b.id").fetchall()
    db.close()
    assert got == [("AA:BB" if i % 2 else "CC:DD", i + 0.9, int(i in (1, 4)),
                    "ectopic" if i in (1, 4) else None) for i in range(6)]


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


# -- A closed recording is one file; reading never writes nor leaves anything beside it ---------


def _listing(folder, shm_content=True):
    """Every file in ``folder`` with its bytes and modification time (for a -shm, SQLite's
    shared memory while a recording is live, only that it is there unless ``shm_content``)."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns)
            if shm_content or not p.name.endswith("-shm") else "shm"
            for p in sorted(folder.iterdir()) if p.is_file()}


def _crash_copy(recording, dest, shm=True):
    """The files a SIGKILL of the recording process would leave at this moment (its last
    transaction committed): the file, its -wal and, unless ``shm`` is False, its -shm."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal") + (("-shm",) if shm else ()):
        shutil.copyfile(f"{recording}{suffix}", f"{dest}{suffix}")
    return dest


def _open_recording(path, ticks=1024, n=5):
    rec = Recorder(path)
    rec.device_id(DeviceInfo("Strap A", "AA:BB"))
    for i in range(n):
        rec.beat("AA:BB", ticks, ticks * 1000 / 1024, i + 0.9, i + 1.0)
        rec.commit()
    return rec


def test_closed_recording_is_one_self_contained_file(tmp_path):
    path = tmp_path / "s.sqlite"
    _record(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.sqlite"]
    head = path.read_bytes()[:100]
    assert head[18:20] == b"\x01\x01"  # rollback journal: not in WAL mode any more
    db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    db.close()
    alone = tmp_path / "copy" / "alone.sqlite"
    alone.parent.mkdir()
    shutil.copyfile(path, alone)
    s = read_session(alone)
    assert s.complete and s.rr_ms.size == 5 and len(s.meta["session_id"]) == 32


@pytest.mark.parametrize("state", ["closed", "crashed", "crashed without -shm", "recording"])
def test_reading_writes_nothing_and_leaves_nothing_beside(tmp_path, state):
    live = tmp_path / "live" / "s.sqlite"
    live.parent.mkdir()
    rec = _open_recording(live, n=300)
    if state == "closed":
        rec.close()
        path = live
    elif state == "recording":
        path = live
    else:
        path = _crash_copy(live, tmp_path / "crash" / "s.sqlite", shm=state == "crashed")
    # A live recording's -shm is its writer's shared memory, which readers take part in.
    before = _listing(path.parent, shm_content=state != "recording")
    data = read_session(path)
    events = read_events(data)
    assert data.rr_ms.size == 300 and sum(isinstance(e, Beat) for e in events) == 300
    assert _listing(path.parent, shm_content=state != "recording") == before
    rec.close()


def test_reading_from_a_read_only_folder(tmp_path):
    """A closed file, and a crashed one with and without its -shm, read from a folder nothing can
    be created in (chmod 555; as root, whom chmod does not stop, the immutable attribute)."""
    live = tmp_path / "live.sqlite"
    rec = _open_recording(live, n=50)
    folder = tmp_path / "ro"
    _crash_copy(live, folder / "crashed.sqlite")
    _crash_copy(live, folder / "noshm.sqlite", shm=False)
    rec.close()
    shutil.copyfile(live, folder / "closed.sqlite")
    files = sorted(folder.iterdir())
    if os.geteuid() == 0:
        if shutil.which("chattr") is None:
            pytest.skip("running as root without chattr: cannot make a read-only folder")
        lock = ["chattr", "+i", *map(str, files), str(folder)]
        unlock = ["chattr", "-i", str(folder), *map(str, files)]
    else:
        lock = unlock = None
    try:
        if lock:
            if subprocess.run(lock, capture_output=True).returncode != 0:
                pytest.skip("the file system does not support the immutable attribute")
        else:
            for f in files:
                f.chmod(0o444)
            folder.chmod(0o555)
        with pytest.raises(OSError):
            (folder / "probe").write_bytes(b"")
        before = _listing(folder)
        for name in ("closed.sqlite", "crashed.sqlite", "noshm.sqlite"):
            data = read_session(folder / name)
            assert data.rr_ms.size == 50, name
            assert len(read_events(data)) == 51
        assert _listing(folder) == before
    finally:
        if unlock:
            subprocess.run(unlock, capture_output=True)
        else:
            folder.chmod(0o755)


# -- A -wal that is not the file's own is never merged -------------------------------------------


def test_a_stray_wal_beside_a_closed_recording_is_ignored(tmp_path):
    a = tmp_path / "a.sqlite"
    _open_recording(a, ticks=1024, n=5).close()
    b = tmp_path / "b" / "b.sqlite"
    b.parent.mkdir()
    rec_b = _open_recording(b, ticks=800, n=100)
    shutil.copyfile(f"{b}-wal", f"{a}-wal")  # taken while B is still recording
    rec_b.close()
    before = _listing(tmp_path)
    s = read_session(a)
    assert s.rr_ticks.tolist() == [1024] * 5
    assert [e.rr_ticks for e in read_events(s) if isinstance(e, Beat)] == [1024] * 5
    assert _listing(tmp_path) == before  # the stray -wal is left as it was, nothing is added
    # What the immutable read prevents: SQLite's ordinary read-only open merges it.
    copy = tmp_path / "c" / "a.sqlite"
    copy.parent.mkdir()
    shutil.copyfile(a, copy)
    shutil.copyfile(f"{a}-wal", f"{copy}-wal")
    db = sqlite3.connect(f"{copy.as_uri()}?mode=ro", uri=True)
    assert 800 in {t for (t,) in db.execute("SELECT rr_ticks FROM beats")}
    db.close()


@pytest.mark.parametrize("shm", [True, False])
def test_a_foreign_wal_beside_a_crashed_recording_is_refused(tmp_path, shm):
    a_live = tmp_path / "a" / "a.sqlite"
    a_live.parent.mkdir()
    rec_a = _open_recording(a_live, ticks=1024, n=100)
    crashed = _crash_copy(a_live, tmp_path / "crash" / "a.sqlite", shm=shm)
    assert read_session(crashed).rr_ticks.tolist() == [1024] * 100  # its own -wal: merged
    b_live = tmp_path / "b" / "b.sqlite"
    b_live.parent.mkdir()
    rec_b = _open_recording(b_live, ticks=800, n=100)
    shutil.copyfile(f"{b_live}-wal", f"{crashed}-wal")
    before = _listing(crashed.parent)
    with pytest.raises(SessionFileError, match="a.sqlite-wal beside it comes from another "
                                               "recording") as e:
        read_session(crashed)
    assert str(crashed) in str(e.value) and "\n" not in str(e.value)
    assert _listing(crashed.parent) == before
    rec_a.close()
    rec_b.close()


# -- Nothing that exists is ever truncated or left behind ----------------------------------------


@pytest.mark.parametrize("suffix", ["-wal", "-shm", "-journal"])
def test_never_truncates_a_companion(tmp_path, suffix):
    path = tmp_path / "s.sqlite"
    companion = tmp_path / f"s.sqlite{suffix}"
    companion.write_bytes(b"precious")
    with pytest.raises(RecordingError, match=f"s.sqlite{suffix} already exists"):
        Recorder(path)
    assert companion.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == [companion.name]


def test_default_session_path_skips_names_with_companions(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOBREATH_DATA_DIR", str(tmp_path))
    first = default_session_path()
    first.parent.mkdir(parents=True)
    Path(f"{first}-wal").write_bytes(b"x")
    assert default_session_path() != first


def test_creation_failing_half_way_leaves_no_file(tmp_path, monkeypatch):
    from biobreath.files import recording

    path = tmp_path / "s.sqlite"
    monkeypatch.setattr(recording, "SCHEMA", recording.SCHEMA + "CREATE TABLE meta (x);")
    with pytest.raises(RecordingError, match="cannot write a recording at .*s.sqlite"):
        Recorder(path)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    Recorder(path).close()  # the name is free


def test_creation_on_a_full_disk_leaves_no_file(tmp_path):
    path = tmp_path / "s.sqlite"
    script = ("import resource, sys\n"
              "from biobreath.errors import RecordingError\n"
              "from biobreath.files.recording import Recorder\n"
              "resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))\n"
              "try:\n"
              "    Recorder(sys.argv[1])\n"
              "except RecordingError as e:\n"
              "    sys.exit(str(e))\n")
    r = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.startswith(f"cannot write a recording at {path}: ")
    assert list(tmp_path.iterdir()) == []  # the empty file it had made is gone


# -- Disk full while recording ---------------------------------------------------------------------


def test_disk_full_while_recording_stops_with_one_line_and_keeps_the_commits(tmp_path):
    path = tmp_path / "s.sqlite"
    rec = _open_recording(path, n=3)
    # The test hook: a page limit on the recorder's connection is a disk that fills up.
    pages = rec._db.execute("PRAGMA page_count").fetchone()[0]
    rec._db.execute(f"PRAGMA max_page_count = {pages + 4}")
    committed = 3
    with pytest.raises(RecordingError) as e:
        for i in range(3, 100_000):
            rec.notification("AA:BB", i + 1.0, bytes([0x10, 60, 0, 4]) * 4)
            rec.beat("AA:BB", 1024, 1000.0, i + 0.9, i + 1.0)
            if i % 10 == 9:
                rec.commit()
                committed = i + 1
    message = str(e.value)
    assert message.startswith(f"disk full while recording to {path}: the session was stopped; "
                              "everything up to ")
    assert message.endswith(f"({committed // 60}:{committed % 60:02d} into the session) is kept")
    assert "\n" not in message
    # Stopped: later writes are ignored, closing does not raise (twice neither).
    assert rec.beat("AA:BB", 1024, 1000.0, 1e4, 1e4) == 0
    rec.event(1e4, "session_stop")
    rec.set_meta(duration_s=1e4)
    rec.close()
    rec.close()
    s = read_session(path)
    assert s.rr_ms.size == committed and s.complete and not s.warnings
    assert s.meta["stopped_by_error"] == message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.sqlite"]


_FILL_UNTIL_FULL = """
import resource, sys
import numpy as np
from biobreath.errors import RecordingError
from biobreath.files.recording import Recorder
rec = Recorder(sys.argv[1])
rec.device_id("AA")
rec.commit()
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), int(sys.argv[2])))
committed = 0
try:
    for i in range(10**6):
        rec.beat("AA", 1024, 1000.0, i + 0.9, i + 1.0)
        rec.ecg("AA", float(i), 130.0, np.arange(130))
        if i % 5 == 4:
            rec.commit()
            committed = i + 1
except RecordingError as e:
    print(committed)
    print(e, file=sys.stderr)
if sys.argv[3] == "close":
    rec.close()
else:
    import os
    os._exit(0)  # killed before it could close
"""


@pytest.mark.parametrize("limit, end", [(150_000, "close"), (40_000, "close"),
                                        (150_000, "killed")])
def test_file_size_limit_while_recording(tmp_path, limit, end):
    """A real write failure (the file may not grow: EFBIG, as ENOSPC) in another process."""
    path = tmp_path / "s.sqlite"
    r = subprocess.run([sys.executable, "-c", _FILL_UNTIL_FULL, str(path), str(limit), end],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    committed = int(r.stdout)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"disk I/O error while recording to {path}")
    s = read_session(path)
    assert s.rr_ms.size == committed > 0 and not s.warnings
    assert s.complete == (end == "close")
    if end == "close":
        assert sorted(p.name for p in tmp_path.iterdir()) == ["s.sqlite"]


def test_cli_disk_full_is_one_line_and_the_recording_analyses(tmp_path):
    import resource

    out = tmp_path / "s.sqlite"
    r = subprocess.run(
        [sys.executable, "-m", "biobreath", "train", "--headless", "--speed", "max",
         "--duration", "600", "--out", str(out)], capture_output=True, text=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000)))
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"biobreath: disk I/O error while recording to {out}: the session "
                               "was stopped; everything up to ")
    s = read_session(out)
    assert s.rr_ms.size > 5 and s.complete
    assert main(["analyze", "--json", str(out)]) == 0
