"""The people database: who practises, their resonance rate and preferences, and the index of
their sessions, shared safely between programs running at once."""

import sqlite3
import subprocess
import sys
import threading
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from biobreath.errors import BiobreathError
from biobreath.files.people import (
    DEFAULT_PERSON,
    Checkin,
    People,
    Person,
    SessionEntry,
    people_path,
)


def entry(n: int, person: str = "Anna", *, kind: str = "ble", started: str | None = None,
          **changes) -> SessionEntry:
    """A session line with made-up figures (the index stores what it is given)."""
    fields = dict(session_id=f"s{n:04d}", file=f"/sessions/{n}.sqlite", person=person,
                  started_utc=started or f"2026-11-{1 + n % 28:02d}T08:00:00.000+00:00",
                  duration_s=600.0 + n, complete=True, source_kind=kind, protocol="coherence",
                  strap="Polar H10 1234", n_beats=700, coherence_mean=60.0 + n % 30,
                  low_s=10.0, medium_s=100.0, high_s=400.0, hr_swing_bpm=12.5,
                  mean_hr_bpm=64.0, before=Checkin(6, "tired"), after=Checkin(3))
    fields.update(changes)
    return SessionEntry(**fields)


def test_the_file_lives_beside_the_sessions_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOBREATH_DATA_DIR", str(tmp_path))
    assert people_path() == tmp_path / "people.sqlite"
    with People() as people:
        assert people.path == tmp_path / "people.sqlite"
    assert (tmp_path / "people.sqlite").is_file()


def test_resolve_defaults_creates_and_remembers_the_last_person(tmp_path):
    db = tmp_path / "people.sqlite"
    with People(db) as people:
        assert people.resolve(None) == Person(DEFAULT_PERSON, None, None, None, None, None)
        assert people.resolve("Anna").name == "Anna"
        assert people.resolve(None).name == "Anna"
        # One person however the name is typed (ASCII case, spaces around it).
        assert people.resolve("  anna ").name == "Anna"
        people.resolve("Bob")
        assert people.names() == ["Anna", "Bob", DEFAULT_PERSON]
    with People(db) as people:  # kept between programs
        assert people.resolve(None).name == "Bob"


@pytest.mark.parametrize("name", ["Robert'); DROP TABLE people;--", "Zoë «Z» 🌿", '"%s" %d ?',
                                  "x" * 100])
def test_names_are_free_text(tmp_path, name):
    with People(tmp_path / "p.sqlite") as people:
        assert people.resolve(name).name == name
        people.set_resonance(name, 5.5)
        assert people.get(name).resonance_bpm == 5.5
        assert people.names() == [name]


@pytest.mark.parametrize("name, message", [("", "empty"), ("   ", "empty"),
                                           ("a\nb", "control"), ("\x1b[2J", "control"),
                                           ("x" * 101, "at most 100")])
def test_bad_names_are_one_line(tmp_path, name, message):
    with People(tmp_path / "p.sqlite") as people, pytest.raises(BiobreathError, match=message):
        people.resolve(name)


def test_resonance_rate_is_kept_as_a_history(tmp_path):
    with People(tmp_path / "p.sqlite") as people:
        people.set_resonance("Anna", 6.0, file="/s/a.sqlite")
        people.set_resonance("Anna", 5.5, source="by hand")
        people.set_resonance("Bob", 4.5)
        assert people.get("Anna").resonance_bpm == 5.5
        history = people.resonance_history("Anna")
        assert [(bpm, source) for _, bpm, source in history] == [(6.0, "assessment"),
                                                                 (5.5, "by hand")]
        times = [datetime.fromisoformat(utc) for utc, _, _ in history]
        assert times == sorted(times) and all(t.utcoffset().total_seconds() == 0 for t in times)
        with pytest.raises(BiobreathError, match="2-30"):
            people.set_resonance("Anna", 0.5)
        assert people.get("Anna").resonance_bpm == 5.5


def test_preferences(tmp_path):
    with People(tmp_path / "p.sqlite") as people:
        people.set_preferences("Anna", protocol="resonance", sound="chime", session_s=900.0,
                               strap="Polar H10 ABCD")
        assert people.get("Anna") == Person("Anna", None, "resonance", "chime", 900.0,
                                            "Polar H10 ABCD")
        people.set_preferences("Anna", sound=None)
        assert people.get("Anna").sound is None
        for bad, message in (({"colour": "red"}, "unknown preference"),
                             ({"sound": "loud"}, "tone, chime, off"),
                             ({"session_s": -5}, "session length")):
            with pytest.raises(BiobreathError, match=message):
                people.set_preferences("Anna", **bad)


def test_checkins_are_checked():
    assert Checkin(0).as_meta() == {"suds": 0, "note": ""}
    for bad in (11, -1, 2.5, True, "5"):
        with pytest.raises(BiobreathError):
            Checkin(bad)
    assert Checkin.from_meta({"suds": 10, "note": "ok"}) == Checkin(10, "ok")
    for junk in (None, 5, {"suds": 12}, {"suds": None, "note": ""}, {"note": 7}):
        assert Checkin.from_meta(junk) is None


def test_sessions_round_trip_and_simulated_ones_are_left_out(tmp_path):
    nan = float("nan")
    with People(tmp_path / "p.sqlite") as people:
        real = [entry(3), entry(1, coherence_mean=nan, low_s=nan, before=None, after=None),
                entry(2, complete=False)]
        for e in real + [entry(4, kind="sim"), entry(5, kind="virtual"), entry(6, "Bob")]:
            people.add_session(e)
        got = people.sessions("Anna")
        assert [e.session_id for e in got] == ["s0001", "s0002", "s0003"]  # oldest first
        assert got[1] == real[2] and got[2] == real[0]
        assert got[0].before is None and got[0].coherence_mean != got[0].coherence_mean  # NaN
        assert [e.source_kind for e in people.sessions("Anna", include_simulated=True)] == \
            ["ble", "ble", "ble", "sim", "virtual"]
        assert len(people.sessions()) == 4
        people.add_session(entry(3, after=Checkin(1, "better")))  # indexed again: replaced
        assert people.sessions("Anna")[2].after == Checkin(1, "better")
        assert "Bob" in people.names()  # a session makes its person known


def test_a_file_that_is_not_ours_is_refused_and_kept(tmp_path):
    path = tmp_path / "people.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(BiobreathError, match="not a biobreath people database"):
        People(path)
    assert path.read_bytes() == before


def test_threads_writing_at_once_all_land(tmp_path):
    path = tmp_path / "p.sqlite"
    People(path).close()
    errors = []

    def write(k):
        try:
            with People(path) as people:
                for i in range(25):
                    people.add_session(entry(k * 100 + i, f"person {k}"))
                    people.resolve(f"person {k}")
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with People(path) as people:
        assert len(people.sessions()) == 100


_WRITER = """
import sys
sys.path.insert(0, sys.argv[3])
from test_people import entry
from biobreath.files.people import People
with People(sys.argv[1]) as people:
    for i in range(40):
        people.add_session(entry(int(sys.argv[2]) * 100 + i, "P" + sys.argv[2]))
"""


def test_processes_writing_at_once_all_land(tmp_path):
    path = tmp_path / "p.sqlite"
    People(path).close()
    here = str(__import__("pathlib").Path(__file__).parent)
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(k), here],
                              stderr=subprocess.PIPE, text=True) for k in range(3)]
    for p in procs:
        assert p.wait() == 0, p.stderr.read()
    with People(path) as people:
        assert len(people.sessions()) == 120
        assert people.names() == ["P0", "P1", "P2"]


def test_a_damaged_file_is_one_line_and_kept(tmp_path):
    path = tmp_path / "people.sqlite"
    path.write_bytes(b"not a database at all " * 200)
    before = path.read_bytes()
    with pytest.raises(BiobreathError, match="move it away") as e:
        People(path)
    assert "\n" not in str(e.value)
    assert path.read_bytes() == before


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)


@given(st.dictionaries(st.sampled_from(["suds", "note", "x"]), _json, max_size=3) | _json)
def test_a_checkin_read_from_any_meta_is_valid_or_none(value):
    c = Checkin.from_meta(value)
    assert c is None or ((c.suds is None or 0 <= c.suds <= 10) and isinstance(c.note, str))
