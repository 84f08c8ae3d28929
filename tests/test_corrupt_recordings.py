"""A corpus of damaged recordings, made here from real short ones: reading any of them raises one
:class:`SessionFileError` line naming the file, or succeeds with the bad rows skipped and counted
in ``warnings``; never anything else, and never a traceback from the command line.

The corpus: ``CASES`` (each a way a file gets damaged, with what must come of it) plus the
hypothesis tests (random bytes flipped in the file or its ``-wal``, random values written into
random rows, random JSON in the metadata and events). ``test_corpus_size`` counts them.
"""

import asyncio
import contextlib
import io
import json
import logging
import math
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from biobreath.cli import main
from biobreath.clock import ScaledClock
from biobreath.core.pacer import Pacer
from biobreath.errors import SessionFileError
from biobreath.files.protocols import load_protocol
from biobreath.files.readers import read_rr_all
from biobreath.files.recording import read_events, read_session
from biobreath.session import Session, SessionListener
from biobreath.session.recorder import RecordingListener
from biobreath.sim.physiology import SimParams
from biobreath.sim.source import SimulatedStrap

# -- Real recordings to damage ---------------------------------------------------------------------


class _CrashAt(SessionListener):
    """Copies the live recording's files at the third breath: what a SIGKILL then leaves."""

    def __init__(self, live: Path, dest: Path) -> None:
        self.live, self.dest, self.breaths = live, dest, 0

    def on_breath(self, report) -> None:
        self.breaths += 1
        if self.breaths == 3:
            for suffix in ("", "-wal", "-shm"):
                shutil.copyfile(f"{self.live}{suffix}", f"{self.dest}{suffix}")


def _crashed_recording(folder: Path, seed: int) -> Path:
    """A simulated-strap session copied mid-way: a file in WAL mode, its -wal and -shm."""
    folder.mkdir()
    live, dest = folder / "live.sqlite", folder / "crashed.sqlite"
    pacer = Pacer(load_protocol("coherence"))
    session = Session(SimulatedStrap(SimParams(seed=seed), pacer), ScaledClock(None), pacer,
                      duration_s=60, listeners=[RecordingListener(live), _CrashAt(live, dest)])
    asyncio.run(session.run())
    live.unlink()
    return dest


def _loosen(path: Path) -> None:
    """Drop the NOT NULL constraints, so a test can write NULL anywhere."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA writable_schema = ON")
    db.execute("UPDATE sqlite_master SET sql = replace(sql, 'NOT NULL', '') WHERE type = 'table'")
    db.commit()
    db.close()


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    """The real recordings the corpus starts from: a closed one from the virtual Polar H10
    (beats, notifications, ECG, ACC, events), the same without NOT NULL constraints, and two
    crashed simulated-strap sessions (the second lends its -wal as a foreign one)."""
    d = tmp_path_factory.mktemp("bases")
    closed = d / "closed.sqlite"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["train", "--source", "virtual", "--headless", "--speed", "max",
                     "--duration", "40", "--out", str(closed)]) == 0
    loose = d / "loose.sqlite"
    shutil.copyfile(closed, loose)
    _loosen(loose)
    out = {"closed": closed, "loose": loose, "crashed": _crashed_recording(d / "a", 1),
           "other": _crashed_recording(d / "b", 2)}
    for name in ("closed", "crashed"):
        data = read_session(out[name])
        assert data.rr_ms.size > 20 and not data.warnings
        assert data.ecg or name == "crashed"
    return out


# -- Reading one file, and what must come of it ----------------------------------------------------


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextlib.contextmanager
def _logged():
    handler = _Lines()
    log = logging.getLogger("biobreath")
    log.addHandler(handler)
    try:
        yield handler.lines
    finally:
        log.removeHandler(handler)


def _outcome(path: Path) -> tuple[str, str]:
    """("refused", message), ("warned", what was logged) or ("ok", ""); any other exception
    fails the test."""
    with _logged() as lines:
        try:
            data = read_session(path)
            events = read_events(data)
            data.protocol()
            _ = data.planned_duration_s, data.complete
        except SessionFileError as e:
            message = str(e)
            assert "\n" not in message and str(path) in message, message
            assert not lines, lines  # a refusal is the only line
            return "refused", message
    with contextlib.suppress(SessionFileError), _logged():  # e.g. "holds no beats"
        read_rr_all(path)
    assert len(lines) <= 1 and all("\n" not in line for line in lines), lines
    assert math.isfinite(events[-1].t)
    for ev in events:
        assert math.isfinite(ev.t)
    if lines:
        assert all(line.startswith(f"{path}: ") for line in lines)
        assert data.warnings and lines[0] == f"{path}: {'; '.join(data.warnings)}"
    return ("warned", " ".join(lines)) if lines else ("ok", "")


def _sql(*statements: str, loose: bool = False):
    def damage(path: Path) -> None:
        db = sqlite3.connect(path)
        for s in statements:
            db.execute(s)
        db.commit()
        db.close()
    damage.loose = loose
    return damage


def _bytes(edit):
    def damage(path: Path) -> None:
        path.write_bytes(edit(path.read_bytes()))
    return damage


def _garbage(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


def _zero_page(k: int):
    def edit(b: bytes) -> bytes:
        return b[:4096 * k] + bytes(4096) + b[4096 * (k + 1):]
    return edit


def _header(offset: int, value: bytes):
    def edit(b: bytes) -> bytes:
        return b[:offset] + value + b[offset + len(value):]
    return edit


def _first_row(table: str) -> str:
    return f"(SELECT min(id) FROM {table})"


def _event(kind: str) -> str:
    return f"(SELECT min(id) FROM events WHERE kind = '{kind}')"


# Every case: (name, base, damage, outcome, words the message or warning must contain).
# ``base`` is "closed" (the virtual strap's closed file), "crashed" (WAL mode, -wal and -shm).
CASES = [
    # meta: bit-flipped JSON, wrong types
    ("meta format bad JSON", "closed",
     _sql("UPDATE meta SET value = '\"biobreath-sess' WHERE key = 'format'"), "refused",
     "meta 'format' is not valid JSON"),
    ("meta format another program's", "closed",
     _sql("UPDATE meta SET value = '\"other\"' WHERE key = 'format'"), "refused",
     "not a biobreath session"),
    ("meta format missing", "closed", _sql("DELETE FROM meta WHERE key = 'format'"), "refused",
     "not a biobreath session"),
    ("meta format_version text", "closed",
     _sql("UPDATE meta SET value = '\"x\"' WHERE key = 'format_version'"), "refused",
     "meta 'format_version' 'x' is not a whole number"),
    ("meta format_version bit flip", "closed",
     _sql("UPDATE meta SET value = '2}' WHERE key = 'format_version'"), "refused",
     "meta 'format_version' is not valid JSON"),
    ("meta format_version newer", "closed",
     _sql("UPDATE meta SET value = '99' WHERE key = 'format_version'"), "refused",
     "newer biobreath"),
    ("meta format_version true", "closed",
     _sql("UPDATE meta SET value = 'true' WHERE key = 'format_version'"), "refused",
     "format_version"),
    ("meta protocol bit flip", "closed",
     _sql("UPDATE meta SET value = substr(value, 1, 20) || '\x7f' || substr(value, 22) "
          "WHERE key = 'protocol'"), "warned", "meta 'protocol' is not valid JSON; ignored"),
    ("meta protocol a string", "closed",
     _sql("UPDATE meta SET value = '\"coherence\"' WHERE key = 'protocol'"), "warned",
     "meta 'protocol' 'coherence' is not an object"),
    ("meta protocol steps an object", "closed",
     _sql("UPDATE meta SET value = '{\"name\": \"x\", \"steps\": {\"a\": 1}}' "
          "WHERE key = 'protocol'"), "warned", "'steps' is not a list"),
    ("meta protocol step duration text", "closed",
     _sql("UPDATE meta SET value = json_set(value, '$.steps[0].duration_s', 'long') "
          "WHERE key = 'protocol'"), "warned", "step 1: 'duration_s' 'long' is not a number"),
    ("meta protocol step inhale negative", "closed",
     _sql("UPDATE meta SET value = json_set(value, '$.steps[0].inhale_s', -3) "
          "WHERE key = 'protocol'"), "warned", "meta 'protocol' is malformed"),
    ("meta protocol name a list", "closed",
     _sql("UPDATE meta SET value = json_set(value, '$.name', json('[1]')) "
          "WHERE key = 'protocol'"), "warned", "'name' is not text"),
    ("meta duration_s a list", "closed",
     _sql("UPDATE meta SET value = '[1, 2]' WHERE key = 'duration_s'"), "warned",
     "meta 'duration_s' [1, 2] is not a number"),
    ("meta planned_duration_s infinite", "closed",
     _sql("UPDATE meta SET value = 'Infinity' WHERE key = 'planned_duration_s'"), "warned",
     "meta 'planned_duration_s' inf is not finite"),
    ("meta source a number", "closed",
     _sql("UPDATE meta SET value = '5' WHERE key = 'source'"), "warned",
     "meta 'source' 5 is not an object"),
    ("meta ended_utc a number", "closed",
     _sql("UPDATE meta SET value = '5' WHERE key = 'ended_utc'"), "warned",
     "meta 'ended_utc' 5 is not text"),
    ("meta created_utc not UTF-8", "closed",
     _sql("UPDATE meta SET value = CAST(X'22FFFE22' AS TEXT) WHERE key = 'created_utc'"),
     "warned", "is not JSON text"),
    ("meta value NULL", "closed",
     _sql("UPDATE meta SET value = NULL WHERE key = 'parameters'", loose=True), "warned",
     "meta 'parameters' None is not JSON text"),
    ("meta key a blob", "closed",
     _sql("UPDATE meta SET key = X'00FF' WHERE key = 'source'"), "warned", "meta: a row keyed"),
    # beats: text, wrong types, absurd or non-finite values, dangling device ids
    ("beats rr_ticks text", "closed",
     _sql(f"UPDATE beats SET rr_ticks = 'abc' WHERE id = {_first_row('beats')}"), "warned",
     "beats: skipped 1 of"),
    ("beats rr_ms text", "closed",
     _sql(f"UPDATE beats SET rr_ms = 'abc' WHERE id = {_first_row('beats')}"), "warned",
     "rr_ms 'abc' is not a number"),
    ("beats beat_time_s text", "closed",
     _sql(f"UPDATE beats SET beat_time_s = 'x' WHERE id = {_first_row('beats')}"), "warned",
     "beat_time_s 'x' is not a number"),
    ("beats rr_ticks zero", "closed",
     _sql(f"UPDATE beats SET rr_ticks = 0 WHERE id = {_first_row('beats')}"), "warned",
     "rr_ticks 0 is outside 1..65535"),
    ("beats rr_ticks negative", "closed",
     _sql(f"UPDATE beats SET rr_ticks = -800 WHERE id = {_first_row('beats')}"), "warned",
     "rr_ticks -800 is outside"),
    ("beats rr_ticks absurd", "closed",
     _sql(f"UPDATE beats SET rr_ticks = 1000000000 WHERE id = {_first_row('beats')}"), "warned",
     "rr_ticks 1000000000 is outside"),
    ("beats rr_ticks fractional", "closed",
     _sql(f"UPDATE beats SET rr_ticks = 1024.5 WHERE id = {_first_row('beats')}"), "warned",
     "rr_ticks 1024.5 is not a whole number"),
    ("beats rr_ticks a blob", "closed",
     _sql(f"UPDATE beats SET rr_ticks = X'0400' WHERE id = {_first_row('beats')}"), "warned",
     "rr_ticks <2 bytes> is not a whole number"),
    ("beats rr_ms infinite", "closed",
     _sql(f"UPDATE beats SET rr_ms = 9e999 WHERE id = {_first_row('beats')}"), "warned",
     "rr_ms inf is not finite"),
    ("beats rr_ms disagrees", "closed",
     _sql(f"UPDATE beats SET rr_ms = rr_ms * 2 WHERE id = {_first_row('beats')}"), "warned",
     "disagrees with rr_ticks"),
    ("beats beat_time_s -inf", "closed",
     _sql(f"UPDATE beats SET beat_time_s = -9e999 WHERE id = {_first_row('beats')}"), "warned",
     "beat_time_s -inf is not finite"),
    ("beats arrival_s absurd", "closed",
     _sql(f"UPDATE beats SET arrival_s = 1e300 WHERE id = {_first_row('beats')}"), "warned",
     "arrival_s 1e+300 is outside"),
    ("beats arrival_s NULL", "closed",
     _sql(f"UPDATE beats SET arrival_s = NULL WHERE id = {_first_row('beats')}", loose=True),
     "warned", "arrival_s None is not a number"),
    ("beats device_id nowhere", "closed",
     _sql(f"UPDATE beats SET device_id = 99 WHERE id = {_first_row('beats')}"), "warned",
     "device_id 99 is not in devices"),
    ("beats device_id text", "closed",
     _sql(f"UPDATE beats SET device_id = 'x' WHERE id = {_first_row('beats')}"), "warned",
     "device_id 'x' is not in devices"),
    ("beats artifact 7", "closed",
     _sql(f"UPDATE beats SET artifact = 7 WHERE id = {_first_row('beats')}"), "warned",
     "artifact 7 is not 0 or 1"),
    ("beats gap text", "closed",
     _sql(f"UPDATE beats SET gap = 'x' WHERE id = {_first_row('beats')}"), "warned",
     "gap 'x' is not 0 or 1"),
    ("beats seq text", "closed",
     _sql(f"UPDATE beats SET seq = 'x' WHERE id = {_first_row('beats')}"), "warned",
     "left out of the replay"),
    ("beats seq NULL", "closed",
     _sql(f"UPDATE beats SET seq = NULL WHERE id = {_first_row('beats')}"), "warned",
     "left out of the replay"),
    ("beats seq repeats an earlier one", "closed",
     _sql("UPDATE beats SET seq = 0 WHERE id = 30"), "warned", "row 30: seq 0 is out of order"),
    ("beats seq far ahead", "closed",
     _sql("UPDATE beats SET seq = seq + 100000 WHERE id = 20"), "warned",
     "is out of order"),
    ("beats beat_time_s in the future", "closed",
     _sql("UPDATE beats SET beat_time_s = beat_time_s + 500 WHERE id = 10"), "warned",
     "is after its arrival_s"),
    ("beats all damaged", "closed", _sql("UPDATE beats SET rr_ticks = 0"), "refused",
     "no usable beats: all"),
    ("beats many damaged", "closed",
     _sql("UPDATE beats SET rr_ms = 'x' WHERE id % 3 = 0"), "warned", "beats: skipped"),
    # events: bit-flipped JSON, wrong values
    ("events battery 'full'", "closed",
     _sql(f"UPDATE events SET value = '\"full\"' WHERE id = {_event('battery')}"), "warned",
     "battery value 'full' is not a whole number"),
    ("events battery not JSON", "closed",
     _sql(f"UPDATE events SET value = 'full' WHERE id = {_event('battery')}"), "warned",
     "value is not valid JSON"),
    ("events battery 300", "closed",
     _sql(f"UPDATE events SET value = '300' WHERE id = {_event('battery')}"), "warned",
     "battery value 300 is outside"),
    ("events heart_rate negative", "closed",
     _sql(f"UPDATE events SET value = '-5' WHERE id = {_event('heart_rate')}"), "warned",
     "heart_rate value -5 is outside"),
    ("events contact text", "closed",
     _sql(f"UPDATE events SET value = '\"yes\"' WHERE id = {_event('contact')}"), "warned",
     "contact value 'yes'"),
    ("events link detail a number", "closed",
     _sql(f"UPDATE events SET value = '5' WHERE id = {_event('link_connected')}"), "warned",
     "link_connected value 5 is not text"),
    ("events breath bit flip", "closed",
     _sql("UPDATE events SET value = substr(value, 1, 5) || '\x01' || substr(value, 7) "
          f"WHERE id = {_event('breath')}"), "warned", "value is not valid JSON"),
    ("events breath a list", "closed",
     _sql(f"UPDATE events SET value = '[1]' WHERE id = {_event('breath')}"), "warned",
     "breath value [1] is not an object"),
    ("events t_s text", "closed",
     _sql(f"UPDATE events SET t_s = 'soon' WHERE id = {_event('tick')}"), "warned",
     "t_s 'soon' is not a number"),
    ("events t_s infinite", "closed",
     _sql(f"UPDATE events SET t_s = 9e999 WHERE id = {_event('tick')}"), "warned",
     "t_s inf is not finite"),
    ("events session_stop absurd", "closed",
     _sql(f"UPDATE events SET t_s = 1e12 WHERE id = {_event('session_stop')}"), "warned",
     "t_s 1e+12 is outside"),
    ("events device_id nowhere", "closed",
     _sql(f"UPDATE events SET device_id = 42 WHERE id = {_event('battery')}"), "warned",
     "device_id 42 is not in devices"),
    ("events kind NULL", "closed",
     _sql(f"UPDATE events SET kind = NULL WHERE id = {_event('battery')}", loose=True), "warned",
     "kind None is not a name"),
    # notifications
    ("notifications payload text", "closed",
     _sql("UPDATE notifications SET payload = 'abc' WHERE id = "
          f"{_first_row('notifications')}"), "warned", "payload 'abc' is not bytes"),
    ("notifications payload too long", "closed",
     _sql("UPDATE notifications SET payload = zeroblob(600) WHERE id = "
          f"{_first_row('notifications')}"), "warned", "payload of 600 bytes"),
    ("notifications device_id nowhere", "closed",
     _sql("UPDATE notifications SET device_id = 7 WHERE id = "
          f"{_first_row('notifications')}"), "warned", "device_id 7 is not in devices"),
    # ECG (int32) and ACC (int16 x 3) frames
    ("ecg odd-length blob", "closed",
     _sql("UPDATE ecg SET samples = CAST(samples || X'00' AS BLOB) "
          f"WHERE id = {_first_row('ecg')}"),
     "warned", "is not a whole number of int32 samples"),
    ("ecg misaligned blob", "closed",
     _sql(f"UPDATE ecg SET samples = X'010203040506' WHERE id = {_first_row('ecg')}"),
     "warned", "samples of 6 bytes"),
    ("ecg samples text", "closed",
     _sql(f"UPDATE ecg SET samples = 'abcd' WHERE id = {_first_row('ecg')}"), "warned",
     "samples 'abcd' is not bytes"),
    ("ecg samples empty", "closed",
     _sql(f"UPDATE ecg SET samples = X'' WHERE id = {_first_row('ecg')}"), "warned",
     "samples of 0 bytes"),
    ("ecg fs zero", "closed",
     _sql(f"UPDATE ecg SET fs_hz = 0 WHERE id = {_first_row('ecg')}"), "warned",
     "fs_hz 0 is outside"),
    ("ecg t0 text", "closed",
     _sql(f"UPDATE ecg SET t0_s = 'x' WHERE id = {_first_row('ecg')}"), "warned",
     "t0_s 'x' is not a number"),
    ("acc 4-byte blob", "closed",
     _sql(f"UPDATE acc SET samples = X'01020304' WHERE id = {_first_row('acc')}"), "warned",
     "not a whole number of int16 x, y, z samples"),
    ("acc blob cut by 2", "closed",
     _sql(f"UPDATE acc SET samples = substr(samples, 1, length(samples) - 2) "
          f"WHERE id = {_first_row('acc')}"), "warned", "int16 x, y, z samples"),
    ("acc fs negative", "closed",
     _sql(f"UPDATE acc SET fs_hz = -25 WHERE id = {_first_row('acc')}"), "warned",
     "fs_hz -25 is outside"),
    ("acc fs absurd", "closed",
     _sql(f"UPDATE acc SET fs_hz = 1e9 WHERE id = {_first_row('acc')}"), "warned",
     "fs_hz 1e+09 is outside"),
    ("acc arrival infinite", "closed",
     _sql(f"UPDATE acc SET arrival_s = 9e999 WHERE id = {_first_row('acc')}"), "warned",
     "arrival_s inf is not finite"),
    # devices
    ("devices name a blob", "closed", _sql("UPDATE devices SET name = X'FF00'"), "warned",
     "devices row 1: name is not text"),
    ("devices row gone", "closed", _sql("DELETE FROM devices"), "refused",
     "no usable beats"),
    # the file as a whole
    ("table beats dropped", "closed", _sql("DROP TABLE beats"), "refused", "no beats table"),
    ("table ecg dropped", "closed", _sql("DROP TABLE ecg"), "refused", "no ecg table"),
    ("column rr_ms dropped", "closed", _sql("ALTER TABLE beats DROP COLUMN rr_ms"), "refused",
     "no column rr_ms in table beats"),
    ("truncated to half", "closed", _bytes(lambda b: b[:len(b) // 2]), "refused", "truncated"),
    ("truncated by a page", "closed", _bytes(lambda b: b[:-4096]), "refused", "truncated"),
    ("truncated by a byte", "closed", _bytes(lambda b: b[:-1]), "refused", "truncated"),
    ("truncated to the header", "closed", _bytes(lambda b: b[:100]), "refused", "truncated"),
    ("truncated inside the header", "closed", _bytes(lambda b: b[:50]), "refused",
     "not a biobreath session"),
    ("empty file", "closed", _bytes(lambda b: b""), "refused", "not a biobreath session"),
    ("header then garbage", "closed", _bytes(lambda b: b[:100] + _garbage(len(b) - 100)),
     "refused", "damaged"),
    ("first page garbage after header", "closed",
     _bytes(lambda b: b[:100] + _garbage(3996, 1) + b[4096:]), "refused", "damaged"),
    ("schema page zeroed", "closed", _bytes(_zero_page(0)), "refused", "not a biobreath"),
    ("a data page zeroed", "closed", _bytes(_zero_page(5)), "refused", "damaged"),
    ("last page garbage", "closed", _bytes(lambda b: b[:-4096] + _garbage(4096, 2)),
     "refused", "damaged"),
    ("page size garbage", "closed", _bytes(_header(16, b"\x03\x00")), "refused",
     "page size of 768"),
    ("size in header too big", "closed", _bytes(_header(28, b"\x00\x01\x00\x00")), "refused",
     "truncated"),
    ("unknown journal mode bytes", "closed", _bytes(_header(18, b"\x07\x07")), "refused",
     "damaged"),
    ("another application id", "closed", _bytes(_header(68, b"ABCD")), "refused",
     "not a biobreath session"),
    ("text file", "closed", _bytes(lambda b: b"800\n900\n"), "refused",
     "not a biobreath session"),
]

# Companion files: which -wal (-shm, -journal) lies beside the file.
WAL_CASES = [
    ("crashed, own -wal and -shm", "crashed", {}, "ok", ""),
    ("crashed, own -wal, no -shm", "crashed", {"-shm": None}, "ok", ""),
    ("crashed, no -wal", "crashed", {"-wal": None, "-shm": None}, "ok", ""),
    ("crashed, foreign -wal and -shm", "crashed", {"-wal": "other"}, "refused",
     "comes from another recording"),
    ("crashed, foreign -wal, no -shm", "crashed", {"-wal": "other", "-shm": None}, "refused",
     "comes from another recording"),
    ("crashed, foreign -wal and -shm both", "crashed", {"-wal": "other", "-shm": "other"},
     "refused", "comes from another recording"),
    ("crashed, -wal garbage", "crashed", {"-wal": _garbage(50_000, 3), "-shm": None}, "ok", ""),
    ("crashed, -wal cut mid-frame", "crashed", {"-wal": "cut"}, "ok", ""),
    ("crashed, -shm garbage", "crashed", {"-shm": _garbage(32768, 4)}, "ok", ""),
    ("crashed, -shm empty", "crashed", {"-shm": b""}, "ok", ""),
    ("closed, foreign -wal", "closed", {"-wal": "other"}, "ok", ""),
    ("closed, foreign -wal and -shm", "closed", {"-wal": "other", "-shm": "other"}, "ok", ""),
    ("closed, garbage -journal", "closed", {"-journal": _garbage(10_000, 5)}, "ok", ""),
    ("closed, empty -wal", "closed", {"-wal": b""}, "ok", ""),
]


def _copy(bases: dict, base: str, folder: Path) -> Path:
    src = bases[base]
    dest = folder / "damaged.sqlite"
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{src}{suffix}").exists():
            shutil.copyfile(f"{src}{suffix}", f"{dest}{suffix}")
    return dest


def _make_case(bases: dict, folder: Path, base: str, damage) -> Path:
    path = _copy(bases, "loose" if getattr(damage, "loose", False) else base, folder)
    damage(path)
    return path


def _make_wal_case(bases: dict, folder: Path, base: str, companions: dict) -> Path:
    path = _copy(bases, base, folder)
    for suffix, content in companions.items():
        target = Path(f"{path}{suffix}")
        if content is None:
            target.unlink()
        elif content == "other":
            shutil.copyfile(f"{bases['other']}{suffix}", target)
        elif content == "cut":
            data = target.read_bytes()
            target.write_bytes(data[:len(data) - 1000])
        else:
            target.write_bytes(content)
    return path


def _check(path: Path, outcome: str, words: str) -> None:
    got, message = _outcome(path)
    assert got == outcome, (got, message)
    assert words in message, message


@pytest.mark.parametrize("name, base, damage, outcome, words", CASES, ids=[c[0] for c in CASES])
def test_damaged_file(bases, tmp_path, name, base, damage, outcome, words):
    _check(_make_case(bases, tmp_path, base, damage), outcome, words)


@pytest.mark.parametrize("name, base, companions, outcome, words", WAL_CASES,
                         ids=[c[0] for c in WAL_CASES])
def test_companion_files(bases, tmp_path, name, base, companions, outcome, words):
    path = _make_wal_case(bases, tmp_path, base, companions)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    _check(path, outcome, words)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    if outcome == "ok" and base == "closed":
        assert read_session(path).rr_ticks.tolist() == read_session(bases[base]).rr_ticks.tolist()


NOT_FILES = [("missing", "no such file"), ("folder", "is a folder")]


@pytest.mark.parametrize("what, message", NOT_FILES)
def test_not_a_file(tmp_path, what, message):
    path = tmp_path / "x.sqlite"
    if what == "folder":
        path.mkdir()
    with pytest.raises(SessionFileError, match=message):
        read_session(path)


def test_skipped_rows_are_counted_and_the_rest_is_read(bases, tmp_path):
    path = _make_case(bases, tmp_path, "closed",
                      _sql("UPDATE beats SET rr_ticks = 'abc' WHERE id IN (3, 5)",
                           "UPDATE ecg SET samples = X'00' WHERE id = 2"))
    good = read_session(bases["closed"])
    data = read_session(path)
    n = good.rr_ms.size
    assert data.rr_ms.size == n - 2
    assert data.warnings[0] == (f"beats: skipped 2 of {n} rows (row 3: rr_ticks 'abc' is not a "
                                "whole number)")
    assert data.warnings[1].startswith(f"ecg: skipped 1 of {len(_rows(path, 'ecg'))} rows "
                                       "(row 2: samples of 1 bytes")
    assert len(data.ecg[0].values) < len(good.ecg[0].values)


def _rows(path: Path, table: str) -> list:
    db = sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        return db.execute(f"SELECT * FROM {table}").fetchall()
    finally:
        db.close()


BAD_PROTOCOLS = ["coherence", 5, [1], {"steps": "x"}, {"steps": [5]},
                 {"steps": [{"duration_s": "x"}]}, {"steps": [{"duration_s": 60, "inhale_s": "x"}]},
                 {"steps": [{"duration_s": 60, "inhale_s": 4}]}, {"name": 3},
                 {"steps": [{"duration_s": 1e300}]}, {"steps": [{"duration_s": float("nan")}]}]


def test_protocol_raises_only_session_file_errors(bases):
    """SessionData.protocol() on metadata read_session would have set aside."""
    import dataclasses

    data = read_session(bases["closed"])
    for bad in BAD_PROTOCOLS:
        with pytest.raises(SessionFileError, match="meta 'protocol' is malformed"):
            dataclasses.replace(data, meta={**data.meta, "protocol": bad}).protocol()


# -- The command line: one line on stderr, never a traceback ---------------------------------------

CLI_CASES = [
    ("meta format bad JSON", 1),
    ("truncated to half", 1),
    ("header then garbage", 1),
    ("crashed, foreign -wal, no -shm", 1),
    ("usable with bad rows", 0),
]


def test_command_line_on_damaged_files(bases, tmp_path):
    cases = {c[0]: c for c in CASES}
    wal_cases = {c[0]: c for c in WAL_CASES}
    paths = {}
    for name, _ in CLI_CASES:
        folder = tmp_path / name.replace(" ", "-").replace(",", "")
        folder.mkdir()
        if name in cases:
            paths[name] = _make_case(bases, folder, cases[name][1], cases[name][2])
        elif name in wal_cases:
            paths[name] = _make_wal_case(bases, folder, wal_cases[name][1], wal_cases[name][2])
        else:
            paths[name] = _make_case(bases, folder, "closed", _sql(
                f"UPDATE events SET value = '\"full\"' WHERE id = {_event('battery')}",
                "UPDATE ecg SET samples = CAST(samples || X'00' AS BLOB) "
                f"WHERE id = {_first_row('ecg')}",
                f"UPDATE beats SET rr_ticks = 'abc' WHERE id = {_first_row('beats')}"))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    todo = [(name, code, argv) for name, code in CLI_CASES
            for argv in (["analyze", str(paths[name])],
                         ["replay", str(paths[name]), "--headless", "--speed", "max"])]
    runs = []
    for k in range(0, len(todo), 2):  # two at a time: the test machines have two cores
        batch = [(name, code, argv[0],
                  subprocess.Popen([sys.executable, "-m", "biobreath", *argv], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
                 for name, code, argv in todo[k:k + 2]]
        runs += [(name, code, command, proc, *proc.communicate(timeout=300))
                 for name, code, command, proc in batch]
    for name, code, command, proc, out, err in runs:
        lines = err.strip().splitlines()
        assert proc.returncode == code, (name, command, err)
        assert "Traceback" not in err and len(lines) == 1, (name, command, err)
        assert lines[0].startswith(f"biobreath: {paths[name]}: "), lines[0]
        if code == 0:
            assert "skipped 1 of" in lines[0] and out.strip(), (name, command, lines[0])


# -- Random damage (hypothesis) --------------------------------------------------------------------

FLIP_EXAMPLES = 150
WAL_FLIP_EXAMPLES = 60
ROW_EXAMPLES = 150
JSON_EXAMPLES = 100
REPLAY_EXAMPLES = 20

_COLUMNS = {
    "meta": ["key", "value"],
    "devices": ["id", "name", "address", "profile"],
    "beats": ["device_id", "rr_ticks", "rr_ms", "beat_time_s", "arrival_s", "artifact", "seq",
              "gap"],
    "notifications": ["device_id", "arrival_s", "payload", "seq"],
    "ecg": ["device_id", "t0_s", "fs_hz", "samples", "arrival_s", "seq"],
    "acc": ["device_id", "t0_s", "fs_hz", "samples", "arrival_s", "seq"],
    "events": ["t_s", "device_id", "kind", "value", "seq"],
}
_SQL_VALUES = st.one_of(
    st.none(), st.integers(-2**63, 2**63 - 1), st.integers(-3, 70_000),
    st.floats(allow_nan=False), st.sampled_from([math.inf, -math.inf, 1e300, -0.0]),
    st.text(max_size=20), st.binary(max_size=40),
    st.sampled_from(["null", "true", "[1, 2]", "{}", "1e999", '"x"', "NaN", "{\"a\": [", "80"]))
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=8)
_STEP_KEYS = ["label", "duration_s", "inhale_s", "exhale_s", "hold_in_s", "hold_out_s"]
_PROTOCOLS = st.fixed_dictionaries(
    {"name": _JSON, "steps": st.lists(st.dictionaries(st.sampled_from(_STEP_KEYS),
                                                      _JSON | st.floats(0, 100)), max_size=3)})
_SETTINGS = dict(deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow])


@contextlib.contextmanager
def _scratch():
    with tempfile.TemporaryDirectory(prefix="biobreath-corrupt-") as d:
        yield Path(d)


def _flip(data: bytes, flips: list[tuple[int, int]]) -> bytes:
    b = bytearray(data)
    for offset, mask in flips:
        b[offset % len(b)] ^= mask
    return bytes(b)


_FLIPS = st.lists(st.tuples(st.integers(0, 2**31), st.integers(1, 255)), min_size=1, max_size=16)


@settings(max_examples=FLIP_EXAMPLES, **_SETTINGS)
@given(flips=_FLIPS, in_header=st.booleans())
def test_random_bytes_flipped_in_a_closed_file(bases, flips, in_header):
    with _scratch() as d:
        path = _copy(bases, "closed", d)
        data = path.read_bytes()
        if in_header:  # aim some flips at the first page (header and schema)
            flips = [(o % 4096, m) for o, m in flips]
        path.write_bytes(_flip(data, flips))
        _outcome(path)


@settings(max_examples=WAL_FLIP_EXAMPLES, **_SETTINGS)
@given(flips=_FLIPS, target=st.sampled_from(["", "-wal"]), shm=st.booleans())
def test_random_bytes_flipped_in_a_crashed_file_or_its_wal(bases, flips, target, shm):
    with _scratch() as d:
        path = _copy(bases, "crashed", d)
        if not shm:
            Path(f"{path}-shm").unlink()
        part = Path(f"{path}{target}")
        part.write_bytes(_flip(part.read_bytes(), flips))
        _outcome(path)


def _mutate(path: Path, changes) -> None:
    db = sqlite3.connect(path)
    try:
        for table, column, k, value in changes:
            n = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            if n:
                with contextlib.suppress(sqlite3.IntegrityError):  # a row id must be a number
                    db.execute(f"UPDATE OR REPLACE {table} SET {column} = ? WHERE rowid = "
                               f"(SELECT rowid FROM {table} ORDER BY rowid LIMIT 1 OFFSET ?)",
                               (value, k % n))
        db.commit()
    finally:
        db.close()


_CHANGES = st.lists(st.tuples(st.sampled_from(sorted(_COLUMNS)), st.integers(0, 9),
                              st.integers(0, 10**6), _SQL_VALUES), min_size=1, max_size=4).map(
    lambda cs: [(t, _COLUMNS[t][c % len(_COLUMNS[t])], k, v) for t, c, k, v in cs])


@settings(max_examples=ROW_EXAMPLES, **_SETTINGS)
@given(changes=_CHANGES)
def test_random_values_in_random_rows(bases, changes):
    with _scratch() as d:
        path = _copy(bases, "loose", d)
        _mutate(path, changes)
        _outcome(path)


_META_KEYS = ["format_version", "protocol", "duration_s", "planned_duration_s", "source",
              "parameters", "created_utc", "ended_utc", "session_id"]
_EVENT_KINDS = ["battery", "heart_rate", "contact", "link_connected", "breath", "tick",
                "session_stop"]


@settings(max_examples=JSON_EXAMPLES, **_SETTINGS)
@given(key=st.sampled_from(_META_KEYS), value=_JSON | _PROTOCOLS,
       kind=st.sampled_from(_EVENT_KINDS), event_value=_JSON)
def test_random_json_in_meta_and_events(bases, key, value, kind, event_value):
    with _scratch() as d:
        path = _copy(bases, "closed", d)
        db = sqlite3.connect(path)
        db.execute("UPDATE meta SET value = ? WHERE key = ?", (json.dumps(value), key))
        db.execute(f"UPDATE events SET value = ? WHERE id = {_event(kind)}",
                   (json.dumps(event_value),))
        db.commit()
        db.close()
        got, _ = _outcome(path)
        assert got != "refused" or key == "format_version"


@settings(max_examples=REPLAY_EXAMPLES, **_SETTINGS)
@given(changes=_CHANGES)
def test_random_values_then_analyze_and_replay(bases, changes):
    """What the readers let through must not break the analysis or the live core."""
    with _scratch() as d:
        path = _copy(bases, "loose", d)
        _mutate(path, changes)
        with contextlib.redirect_stdout(io.StringIO()), _logged():
            assert main(["analyze", str(path)]) in (0, 1)
            assert main(["replay", str(path), "--headless", "--speed", "max"]) in (0, 1)


def test_corpus_size():
    """How many damaged inputs the tests above try (reported with the change)."""
    fixed = (len(CASES) + len(WAL_CASES) + len(NOT_FILES) + len(BAD_PROTOCOLS) + len(CLI_CASES)
             + 1)  # + test_skipped_rows_are_counted_and_the_rest_is_read
    random_ = (FLIP_EXAMPLES + WAL_FLIP_EXAMPLES + ROW_EXAMPLES + JSON_EXAMPLES
               + REPLAY_EXAMPLES)
    print(f"damaged inputs: {fixed} fixed + up to {random_} random = {fixed + random_}")
    assert fixed >= 100


# -- The reader's two paths agree ---------------------------------------------------------------

_EDGES = st.sampled_from([
    ("beats", "rr_ms", "rr_ticks * 1000.0 / 1024 + ?", [0.5, -0.5, 0.499, 0.4999, 0.5000001]),
    ("beats", "beat_time_s", "arrival_s + ?", [2.0, 2.0000001, 1.9999999]),
    ("beats", "rr_ms", "?", [0.0, 63999.0234375, 63999.03, 5e-324]),
    ("beats", "beat_time_s", "?", [-3600.0, -3600.0000001, 604800.0, 604800.1]),
    ("notifications", "arrival_s", "?", [-3600.0, 604800.0, 604800.0000001]),
    ("beats", "artifact", "?", [0, 1, 2, -1, True, 1.0]),
    ("beats", "gap", "?", [0, 1, 2, "1", 1.0]),
    ("notifications", "payload", "zeroblob(?)", [0, 512, 513]),
])


@settings(max_examples=ROW_EXAMPLES, **_SETTINGS)
@given(changes=st.just([]) | _CHANGES, edge=_EDGES, pick=st.integers(0, 10**6),
       k=st.integers(0, 10**6))
def test_rows_read_at_once_equal_rows_checked_one_by_one(bases, changes, edge, pick, k):
    """A table whose rows all look sound is read at once (:func:`read_session`'s fast path); a
    table with one unsound row is checked row by row. A row added that every check refuses
    (a device the file does not have) forces the second path: what both make of every other
    row, random values and edge values alike, must be the same, to the type."""
    changes = [c for c in changes if c[0] in ("beats", "notifications")]
    table, column, expr, values = edge
    with _scratch() as d:
        path = _copy(bases, "loose", d)
        _mutate(path, changes)
        db = sqlite3.connect(path)
        n = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        db.execute(f"UPDATE {table} SET {column} = {expr} WHERE rowid = "
                   f"(SELECT rowid FROM {table} ORDER BY rowid LIMIT 1 OFFSET ?)",
                   (values[pick % len(values)], k % n))
        db.commit()
        with _logged():
            try:
                fast = read_session(path, keep_rows=True)
            except SessionFileError:
                return  # refused as a whole: no path to compare
        for t in ("beats", "notifications"):
            db.execute(f"INSERT INTO {t} (device_id) VALUES (999)")
        db.commit()
        db.close()
        with _logged():
            checked = read_session(path, keep_rows=True)
    for rows in ("beats", "notifications"):
        got, want = getattr(fast.rows, rows), getattr(checked.rows, rows)
        assert [[(type(v), v) for v in r] for r in got] == \
            [[(type(v), v) for v in r] for r in want]
