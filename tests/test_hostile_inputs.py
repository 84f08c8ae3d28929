"""Hostile RR text files: each is either read (the column and unit it used stated in the notes)
and analysed with every number valid JSON, or refused with one line naming the file and, for a
bad value, its line; through the CLI, a non-zero exit and exactly one line on stderr."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from biobreath.errors import BiobreathError, SessionFileError
from biobreath.files.readers import MAX_BYTES, RRRecording, parse_rr_table, read_rr
from biobreath.offline.analysis import analyze_file, analyze_recording, format_report

ROOT = Path(__file__).resolve().parent.parent
RNG = np.random.default_rng(7)
NORMAL = [f"{v:.1f}" for v in 800 + 40 * np.sin(np.arange(600) / 3) + RNG.normal(0, 20, 600)]


def _with(values: dict[int, str], base: list[str] = NORMAL) -> str:
    """``base`` with the lines at the given (0-based) indices replaced."""
    out = list(base)
    for i, v in values.items():
        out[i] = v
    return "\n".join(out) + "\n"


def _every(k: int, v: str) -> str:
    return _with({i: v for i in range(0, len(NORMAL), k)})


FIVE_MS = _with({i: "5" for i in range(3, 600, 10)})

# name -> (file bytes, expected: "ok" plus note fragments, or the error fragments)
CASES: dict[str, tuple[bytes | str, tuple[str, ...]]] = {
    "one 1e300": (_with({250: "1e300"}), ("line 251", "cannot be an RR interval")),
    "100 x 1e300": (_every(6, "1e300"), ("line 1:", "cannot be an RR interval")),
    "inf": (_with({10: "inf"}), ("line 11", "not a finite number")),
    "-inf": (_with({10: "-inf"}), ("line 11", "not a finite number")),
    "Infinity": (_with({10: "Infinity"}), ("line 11", "not a finite number")),
    "nan": (_with({0: "nan"}), ("line 1:", "not a finite number")),
    "NaN csv": ("time,rr\n" + "".join(f"{i},{v}\n" for i, v in enumerate(NORMAL[:20]))
                + "20,NaN\n", ("line 22", "column 2", "not a finite number")),
    "1e999 overflows": (_with({5: "1e999"}), ("line 6", "not a finite number")),
    "400 digits": (_with({5: "9" * 400}), ("line 6", "not a finite number")),
    "300 digits": (_with({5: "9" * 300}), ("line 6", "cannot be an RR interval")),
    "-5": (_with({7: "-5"}), ("line 8", "not a positive RR interval")),
    "0": (_with({7: "0"}), ("line 8", "not a positive RR interval")),
    "-0": (_with({7: "-0.0"}), ("line 8", "not a positive RR interval")),
    "tiny": (_with({7: "1e-300"}), ("line 8", "cannot be an RR interval")),
    "0.5 ms": (_with({7: "0.5"}), ("line 8", "cannot be an RR interval")),
    "61 s in ms": (_with({7: "61000"}), ("line 8", "cannot be an RR interval")),
    "ms among s": ("0.8\n0.81\n0.79\n800\n0.8\n", ("line 4", "800 s cannot be")),
    "all huge": ("\n".join(["1e300"] * 20_000), ("median", "is the unit right")),
    "huge file of huge numbers": ("\n".join(["9" * 300] * 20_000), ("is the unit right",)),
    "huge file of huge numbers, one normal": ("800\n" + "\n".join(["1e308"] * 50_000),
                                              ("is the unit right",)),
    "huge file, one bad at the end": ("\n".join(NORMAL * 300) + "\n1e300\n",
                                      ("line 180001", "cannot be an RR interval")),
    "three columns": ("".join(f"{i} {v} 70\n" for i, v in enumerate(NORMAL)),
                      ("3 columns", "add a header line naming the RR column")),
    "three columns csv, header without RR": (
        "a,b,c\n" + "".join(f"{i},{v},70\n" for i, v in enumerate(NORMAL)),
        ("3 columns ('a', 'b', 'c')", "naming the RR column")),
    "three columns, header names RR": (
        "time,rr_ms,hr\n" + "".join(f"{i},{v},70\n" for i, v in enumerate(NORMAL)),
        ("ok", "RR from column 2 ('rr_ms') of 3", "RR in ms, as the header")),
    "two RR columns named": ("rr_ms,rr_s\n800,0.8\n", ("both look like RR intervals",)),
    "time RR layout": ("".join(f"{0.8 * (i + 1):.2f}\t{v}\n" for i, v in enumerate(NORMAL)),
                       ("ok", "RR from column 2 of 2", "time, RR")),
    "RR HR layout": ("".join(f"{v} 70\n" for v in NORMAL), ("not a time,RR layout",)),
    "time HR layout": ("".join(f"{i} {70 + i % 3}\n" for i in range(100)),
                       ("not a time,RR layout", "does not look like RR")),
    "single column named time": ("time\n0.8\n1.6\n", ("the only column is named 'time'",)),
    "single column named HR": ("HR\n70\n71\n", ("the only column is named 'HR'",)),
    "mixed text": (_with({4: "abc"}), ("line 5", "'abc' is not a number")),
    "unit words": ("800 ms\n810 ms\n", ("line 2", "'ms'")),
    "decimal commas": ("rr\n0,8\n0,81\n", ("line 2", "use a decimal point")),
    "fullwidth digits": (_with({3: "８００"}), ("line 4", "is not a number")),
    "underscored": (_with({3: "8_00"}), ("line 4", "is not a number")),
    "zero-width space": (_with({3: "\u200b800"}), ("line 4", "is not a number")),
    "right-to-left override": (_with({3: "\u202e008"}), ("line 4", "is not a number")),
    "emoji": (_with({3: "❤️"}), ("line 4", "is not a number")),
    "NUL": (_with({3: "\x00"}), ("line 4", "is not a number")),
    "escape sequence": (_with({3: "\x1b[2J800"}), ("line 4", "is not a number")),
    "NBSP around": (_with({3: "\u00a0800\u00a0"}), ("ok",)),
    "empty": ("", ("no RR values",)),
    "blank lines": ("\n \n\t\n", ("no RR values",)),
    "only comments": ("# rr\n# 800\n", ("no RR values",)),
    "only a header": ("rr_ms\n", ("no RR values", "only the header")),
    "only a csv header": ("time,rr\n", ("no RR values", "only the header")),
    "header and a junk row": ("rr\nx\n", ("line 2", "'x' is not a number")),
    "missing RR cell": ("time\trr\n0.8\t800\n1.6\t\n", ("line 3", "no value in column 2")),
    "extra cells": ("time,rr\n0.8,800,1\n", ("line 2", "3 values", "names 2 columns")),
    "ragged": ("800\n810 820\n", ("line 2", "2 values", "line 1 has 1")),
    "times backwards": ("time,rr\n0.8,800\n1.6,800\n1.2,800\n", ("line 4", "not increasing")),
    # inf - inf is no step: said in the one line, with no NumPy warning above it.
    "infinite times": ("time,rr\n1,1000\ninf,900\ninf,950\n5,1000\n",
                       ("line 4", "not increasing", "inf after inf")),
    "infinite times, no header": ("1 1000\n2 900\ninf 950\ninf 1000\n",
                                  ("not a time,RR layout", "column 1 does not increase at line 4")),
    "CRLF": ("\r\n".join(NORMAL) + "\r\n", ("ok", "RR in ms (detected")),
    "CR only": ("\r".join(NORMAL), ("ok",)),
    "BOM": (b"\xef\xbb\xbf" + "\n".join(NORMAL).encode(), ("ok",)),
    "BOM and header": (b"\xef\xbb\xbfRR (ms)\r\n" + "\r\n".join(NORMAL).encode(),
                       ("ok", "RR from column 1 ('RR (ms)')", "as the header")),
    "UTF-16": ("\n".join(NORMAL).encode("utf-16"), ("not a text file",)),
    "Latin-1": (("rr\n" + "\n".join(NORMAL) + "\nµ\n").encode("latin-1"), ("not a text file",)),
    "semicolons": ("t;rr_s\n" + "".join(f"{i};{float(v) / 1000:.4f}\n"
                                        for i, v in enumerate(NORMAL)),
                   ("ok", "RR from column 2 ('rr_s')", "RR in s, as the header", "converted")),
    "tabs": ("beat\tIBI [ms]\n" + "".join(f"{i}\t{v}\n" for i, v in enumerate(NORMAL)),
             ("ok", "RR from column 2 ('IBI [ms]')")),
    "quoted csv": ('"time","rr"\n' + "".join(f'"{i}","{v}"\n' for i, v in enumerate(NORMAL)),
                   ("ok", "RR from column 2 ('rr')")),
    "trailing delimiter": ("rr;\n" + "".join(f"{v};\n" for v in NORMAL), ("ok",)),
    "seconds": ("\n".join(f"{float(v) / 1000:.4f}" for v in NORMAL),
                ("ok", "RR in s (detected: median", "converted to ms")),
    "10 % at 5 ms": (FIVE_MS, ("ok", "60 of 600 RR intervals lie outside 250-2500 ms")),
    "all 2800 ms": ("\n".join(["2800", "2810"] * 150), ("ok", "none of the 300 RR intervals")),
    "SQLite, not ours": (b"SQLite format 3\x00" + bytes(200), ("not a biobreath session",)),
    "binary": (bytes(range(256)) * 4, ("not a text file",)),
}


def _write(tmp_path: Path, name: str, content: bytes | str) -> Path:
    path = tmp_path / "rr.txt"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def _strict_json(obj: dict) -> dict:
    """``obj`` as the CLI prints it (``allow_nan=False``) and read back without NaN."""
    text = json.dumps(obj, allow_nan=False)

    def no_constants(c):
        raise AssertionError(f"{c} in JSON")

    return json.loads(text, parse_constant=no_constants)


def _one_line(e: BaseException, path: Path) -> str:
    msg = str(e)
    assert msg.startswith(f"{path}: "), msg
    assert "\n" not in msg and "\r" not in msg and len(msg) < 400, msg
    return msg


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_rr_file(tmp_path, name):
    content, expected = CASES[name]
    path = _write(tmp_path, name, content)
    if expected[0] != "ok":
        with pytest.raises(SessionFileError) as e:
            read_rr(path)
        msg = _one_line(e.value, path)
        assert all(x in msg for x in expected), msg
        for mode in ("auto", "none"):
            with pytest.raises(SessionFileError):
                analyze_file(path, artifact_mode=mode)
        return
    rec = read_rr(path)
    assert rec.rr_ms.size and np.all(np.isfinite(rec.rr_ms))
    assert np.all((rec.rr_ms >= 1) & (rec.rr_ms <= 60_000))
    assert rec.notes and any(n.startswith("RR in ") for n in rec.notes)
    for mode in ("auto", "none"):
        (a,) = analyze_file(path, artifact_mode=mode)
        obj = _strict_json(a.as_json())
        notes = " | ".join(obj["notes"])
        assert all(x in notes for x in expected[1:]), notes
        format_report(a)


def test_too_large_a_file_is_refused_unread(tmp_path):
    path = tmp_path / "big.txt"
    with open(path, "wb") as f:
        f.truncate(MAX_BYTES + 1)  # sparse: nothing is written
    with pytest.raises(SessionFileError, match="too large") as e:
        read_rr(path)
    _one_line(e.value, path)


def test_folders_and_missing_files(tmp_path):
    for path, message in ((tmp_path, "folder"), (tmp_path / "nope.txt", "no such file")):
        with pytest.raises(SessionFileError, match=message) as e:
            read_rr(path)
        _one_line(e.value, path)


def test_non_physiological_beats_are_flagged_even_when_kept(tmp_path):
    path = _write(tmp_path, "five", FIVE_MS)
    (kept,) = analyze_file(path, artifact_mode="none")
    obj = _strict_json(kept.as_json())
    assert any("60 of 600" in n and "kept as recorded" in n for n in obj["notes"])
    assert obj["mean_hr_bpm"] > 200  # as recorded: the note says why
    (corrected,) = analyze_file(path, artifact_mode="auto")
    obj = _strict_json(corrected.as_json())
    assert any("60 of 600" in n and "treated as artifacts" in n for n in obj["notes"])
    assert 60 < obj["mean_hr_bpm"] < 90


@pytest.mark.parametrize("mode", ["auto", "none"])
def test_no_valid_beat_gives_no_heart_rate(tmp_path, mode):
    path = _write(tmp_path, "slow", "\n".join(["2800", "2810"] * 150))
    (a,) = analyze_file(path, artifact_mode=mode)
    obj = _strict_json(a.as_json())
    assert obj["mean_hr_bpm"] is None and obj["min_hr_bpm"] is None and obj["max_hr_bpm"] is None
    assert any("valid beat" in n for n in obj["notes"])
    hr_line = next(ln for ln in format_report(a).splitlines() if "heart rate" in ln)
    assert "mean -  min -  max - bpm" in hr_line


def test_a_session_with_only_artifacts_reports_no_heart_rate():
    """Sessions skip the text checks: a strap sending nothing but 5 ms intervals."""
    rr = np.full(400, 5.0)
    rec = RRRecording(Path("s.sqlite"), "session", rr, np.cumsum(rr) / 1000, np.ones(400, bool),
                      "ticks")
    for mode in ("auto", "none"):
        obj = _strict_json(analyze_recording(rec, artifact_mode=mode).as_json())
        assert obj["mean_hr_bpm"] is None
        assert any("400 of 400 RR intervals lie outside" in n for n in obj["notes"])


# --------------------------------------------------------------------------- the CLI

CLI_CASES = ["one 1e300", "100 x 1e300", "nan", "three columns", "empty", "only a header",
             "UTF-16", "10 % at 5 ms", "all 2800 ms", "time RR layout", "infinite times",
             "infinite times, no header"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    # Deprecations are the libraries' business; any other warning would be a line above ours.
    env = {**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning,ignore::FutureWarning"}
    return subprocess.run([sys.executable, "-m", "biobreath", "analyze", *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)


@pytest.mark.parametrize("json_flag", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("name", CLI_CASES)
def test_cli_on_hostile_files(tmp_path, name, json_flag):
    content, expected = CASES[name]
    path = _write(tmp_path, name, content)
    r = _cli(*(["--json"] if json_flag else []), "--artifacts", "none", str(path))
    assert "Traceback" not in r.stderr
    if expected[0] != "ok":
        assert r.returncode == 1, r
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"biobreath: {path}: "), r.stderr
        assert all(x in lines[0] for x in expected), lines[0]
        assert r.stdout == ""
        return
    assert r.returncode == 0, r.stderr
    if json_flag:
        (line,) = r.stdout.splitlines()
        obj = _strict_json(json.loads(line))
        assert all(x in " | ".join(obj["notes"]) for x in expected[1:])
    else:
        assert all(x in r.stdout for x in expected[1:])


# --------------------------------------------------------------------------- generated text

rr_like = st.one_of(st.floats(250, 2500).map(lambda v: f"{v:.1f}"),
                    st.floats(0.25, 2.5).map(lambda v: f"{v:.3f}"))
hostile_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(-10**6, 10**6).map(str),
    st.sampled_from(["1e300", "-5", "0", "-0", "1e999", "9" * 400, "5e-324", "+800", ".8",
                     "800.", "1e-300", "inf", "-inf", "nan", "NaN", "Infinity", "0x320",
                     "8_00", "８００", "1,5", "", "  "]))
words = st.one_of(st.sampled_from(["rr", "RR (ms)", "rr_s", "rr_ms", "time", "t", "hr", "ibi",
                                   "IBI [s]", "beat", "abc", "ms", "#", "\"rr\"", "µ", "❤️",
                                   "\u200b", "\x00", "\x1b[0m"]),
                  st.text(max_size=6))
cells = st.one_of(rr_like, rr_like, hostile_numbers, words)
rows = st.lists(cells, min_size=1, max_size=4)


@st.composite
def near_valid_text(draw) -> str:
    """A well-formed RR file of some layout, with up to three cells replaced by hostile ones."""
    n = draw(st.integers(1, 80))
    seconds = draw(st.booleans())
    rr = draw(st.lists(st.floats(300, 1500), min_size=n, max_size=n))
    fmt = (lambda v: f"{v / 1000:.4f}") if seconds else (lambda v: f"{v:.1f}")
    rr_name = draw(st.sampled_from(["rr", "RR", "ibi", "IBI [s]" if seconds else "rr_ms"]))
    layout = draw(st.sampled_from(["single", "header", "time-rr", "named"]))
    t = np.cumsum(rr) / 1000.0
    if layout == "single":
        table = [[fmt(v)] for v in rr]
    elif layout == "header":
        table = [[rr_name]] + [[fmt(v)] for v in rr]
    elif layout == "time-rr":
        table = [[f"{x:.3f}", fmt(v)] for x, v in zip(t, rr)]
    else:
        table = [["time", rr_name, "hr"]] + [[f"{x:.3f}", fmt(v), f"{60000 / v:.0f}"]
                                               for x, v in zip(t, rr)]
    for _ in range(draw(st.integers(0, 3))):
        row = draw(st.integers(0, len(table) - 1))
        col = draw(st.integers(0, len(table[row]) - 1))
        table[row][col] = draw(st.one_of(hostile_numbers, words))
    sep = draw(st.sampled_from([",", ";", "\t", " "] if layout != "named" or " " not in rr_name
                               else [",", ";", "\t"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return ("\ufeff" if draw(st.booleans()) else "") + newline.join(sep.join(r) for r in table)


@settings(max_examples=500, deadline=None)
@given(st.lists(rows, max_size=40), st.sampled_from([" ", ",", ";", "\t", "  \t"]),
       st.sampled_from(["\n", "\r\n", "\r"]), st.booleans())
def test_generated_rr_text_parses_to_valid_rr_or_says_why(table, sep, newline, bom):
    _valid_rr_or_one_line(("\ufeff" if bom else "") + newline.join(sep.join(r) for r in table))


@settings(max_examples=500, deadline=None)
@given(near_valid_text())
def test_nearly_valid_rr_text_parses_to_valid_rr_or_says_why(text):
    _valid_rr_or_one_line(text)


def _valid_rr_or_one_line(text: str) -> None:
    """Finite RR in ms from 1 ms to 60 s, one per data line, with notes; or one line."""
    try:
        parsed = parse_rr_table(text, "gen.txt")
    except SessionFileError as e:
        msg = str(e)
        assert msg.startswith("gen.txt: ") and "\n" not in msg and "\r" not in msg, msg
        event("refused")
        return
    event(f"read ({parsed.unit})")
    ms = parsed.rr_ms
    assert parsed.unit in ("ms", "s")
    assert ms.dtype == np.float64 and ms.size > 0
    assert np.all(np.isfinite(ms)) and np.all(ms >= 1.0) and np.all(ms <= 60_000.0)
    assert parsed.notes and all("\n" not in n for n in parsed.notes)
    # Nothing silently dropped: one value per content line (bar one header line).
    content = [ln for ln in text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
               .split("\n") if ln.strip() and not ln.strip().startswith("#")]
    assert ms.size in (len(content), len(content) - 1)


series = st.lists(st.one_of(st.floats(600, 1100), st.floats(600, 1100), st.floats(600, 1100),
                            st.floats(1, 60_000), st.sampled_from([1.0, 5.0, 249.9, 2500.1,
                                                                   60_000.0])),
                  min_size=1, max_size=400)


@settings(max_examples=200, deadline=None)
@given(series, st.sampled_from(["auto", "none"]))
def test_generated_rr_series_analyse_or_say_why(rr, mode):
    """Whatever the reader lets through (finite, 1 ms to 60 s) analyses to strict JSON with a
    heart rate exactly when there is a valid beat, or fails with one line."""
    rr = np.asarray(rr)
    rec = RRRecording(Path("gen.txt"), "text", rr, np.cumsum(rr) / 1000.0,
                      np.zeros(rr.size, bool), "ms")
    try:
        a = analyze_recording(rec, artifact_mode=mode)
    except BiobreathError as e:
        assert str(e).startswith("gen.txt: ") and "\n" not in str(e)
        event("refused")
        return
    obj = _strict_json(a.as_json())
    format_report(a)
    valid = (rr >= 250) & (rr <= 2500)
    if mode == "auto":
        valid &= a.correction.detection.kinds == 0
    event("no valid beat" if not valid.any() else "valid beats")
    assert (obj["mean_hr_bpm"] is None) == (not valid.any())
    outside = int((~((rr >= 250) & (rr <= 2500))).sum())
    assert any(f"{outside} of {rr.size} RR intervals lie outside" in n for n in obj["notes"]) \
        == (outside > 0)
    assert math.isfinite(a.duration_s)
