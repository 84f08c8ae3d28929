"""The command line: every bad input gives one clear line and a non-zero exit, never a traceback."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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
