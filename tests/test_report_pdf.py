"""``biobreath report``: a two-page A4 PDF of a session, read back with pymupdf (its text, and
page 1 rendered to an image), written beside the session without ever replacing a file."""

from __future__ import annotations

import asyncio
import json
import re

import numpy as np
import pytest

pymupdf = pytest.importorskip("pymupdf")

from biobreath.cli import main  # noqa: E402
from biobreath.clock import ScaledClock  # noqa: E402
from biobreath.core.pacer import Pacer  # noqa: E402
from biobreath.files.protocols import load_protocol  # noqa: E402
from biobreath.files.recording import add_meta  # noqa: E402
from biobreath.session import Session, SessionListener  # noqa: E402
from biobreath.session.recorder import RecordingListener  # noqa: E402
from biobreath.sim.physiology import SimParams  # noqa: E402
from biobreath.sim.source import SimulatedStrap  # noqa: E402

PROTOCOL = """name = "two-paces"
[[step]]
minutes = 2
rate_bpm = 6
inhale_ratio = 0.4
[[step]]
minutes = 2
rate_bpm = 5
inhale_ratio = 0.4
"""


class _MarkAtBreath(SessionListener):
    def __init__(self, n: int, text: str) -> None:
        self.n, self.text, self.session = n, text, None

    def on_start(self, session) -> None:
        self.session = session

    def on_breath(self, report) -> None:
        if report.n == self.n:
            self.session.mark(self.text)


@pytest.fixture(scope="module")
def session_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    proto = folder / "two-paces.toml"
    proto.write_text(PROTOCOL)
    path = folder / "morning.sqlite"
    pacer = Pacer(load_protocol(str(proto)))
    session = Session(SimulatedStrap(SimParams(seed=8, ectopic_rate=0.01), pacer),
                      ScaledClock(None), pacer, duration_s=240.0,
                      listeners=[RecordingListener(path), _MarkAtBreath(5, "grounding started")])
    asyncio.run(session.run())
    return path


def _text(pdf) -> list[str]:
    with pymupdf.open(pdf) as doc:
        return [page.get_text() for page in doc]


def test_report_beside_the_session_has_two_pages_with_what_a_client_and_a_paper_need(
        session_file, capsys):
    assert main(["report", str(session_file)]) == 0
    out = session_file.with_name("morning.report.pdf")
    assert capsys.readouterr().out.strip() == str(out)
    pages = _text(out)
    assert len(pages) == 2
    one, two = (" ".join(p.split()) for p in pages)
    for words in ("Breathing session report", "Simulated strap", "two-paces (2 steps; paced at "
                  "5, 6 breaths/min)", "Duration 4 min 00 s", "grounding started",
                  "Heart rate over the breathing pacer", "Coherence", "high", "medium", "low"):
        assert words in one, words
    # Page 2 shows analyze's figures, every method parameter, and the resonance criteria of
    # both paced steps; no check-ins were given, so there is no such section.
    assert main(["analyze", "--json", str(session_file)]) == 0
    a = json.loads(capsys.readouterr().out)
    assert f"RMSSD {a['rmssd_ms']:.1f} ms" in two
    assert f"SDNN {a['sdnn_ms']:.1f} ms" in two
    assert f"mean score {a['coherence_mean']:.0f} of 100" in two
    assert f"best rate {a['resonance']['best_rate_bpm']:g} breaths/min" in two
    for name in ("c1 0.13", "welch_window_s 256.0", "nfft 1024", "dfa_short [4, 16]",
                 "peak_width_hz 0.03", "Method parameters"):
        assert name in two, name
    assert "Check-ins" not in two and "Check-ins" not in one


def test_page_one_renders_to_an_image_that_is_not_blank(session_file, tmp_path):
    out = tmp_path / "r.pdf"
    assert main(["report", str(session_file), "--pdf", str(out), "--at", "60"]) == 0
    with pymupdf.open(out) as doc:
        page = doc[0]
        assert (page.rect.width, page.rect.height) == pytest.approx((595.4, 841.7), abs=1)  # A4
        pix = page.get_pixmap(dpi=60)
    png = tmp_path / "page1.png"
    pix.save(png)
    img = np.frombuffer(pix.samples, dtype=np.uint8).reshape(pix.height, pix.width, pix.n)
    inked = (img[..., :3] < 200).any(axis=2)
    # Text, curves and shaded bands cover a good part of the page, top to bottom.
    assert 0.04 < inked.mean() < 0.6
    rows = np.flatnonzero(inked.any(axis=1))
    assert rows[0] < 0.1 * pix.height and rows[-1] > 0.9 * pix.height
    # The pacer's blue and the heart rate's red are both drawn.
    r, g, b = (img[..., k].astype(int) for k in range(3))
    assert ((r > 150) & (g < 80) & (b < 80)).sum() > 50
    assert ((b > 150) & (r < 100)).sum() > 50
    assert "seconds from 1 min 00 s" in " ".join(_text(out)[0].split())


def test_check_ins_appear_when_the_session_has_them(session_file, tmp_path):
    copy = tmp_path / "with-checkins.sqlite"
    copy.write_bytes(session_file.read_bytes())
    add_meta(copy, checkin_before={"suds": 6, "note": "tense after work"},
             checkin_after={"suds": 2, "note": ""})
    out = tmp_path / "c.pdf"
    assert main(["report", str(copy), "--pdf", str(out)]) == 0
    two = " ".join(_text(out)[1].split())
    assert "Check-ins" in two
    assert "Before the session: 6 of 10, \u201ctense after work\u201d" in two
    assert "After the session: 2 of 10" in two


def test_an_existing_report_is_never_replaced(session_file, tmp_path, capsys):
    out = tmp_path / "kept.pdf"
    out.write_bytes(b"the therapist's own file")
    assert main(["report", str(session_file), "--pdf", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exists" in err and "Traceback" not in err
    assert out.read_bytes() == b"the therapist's own file"


@pytest.mark.parametrize("argv,words", [
    (["--at", "9999"], "outside the session's beats"),
    (["--person", "nobody"], "no series matches"),
])
def test_bad_requests_are_one_line(session_file, tmp_path, capsys, argv, words):
    out = tmp_path / "x.pdf"
    assert main(["report", str(session_file), "--pdf", str(out), *argv]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err
    assert not out.exists()


def test_a_file_that_is_not_a_session_is_one_line(tmp_path, capsys):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\n")
    assert main(["report", str(bad), "--pdf", str(tmp_path / "y.pdf")]) == 1
    assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "y.pdf").exists()


class _Marks(SessionListener):
    """Marks ``notes`` one per breath from the second on."""

    def __init__(self, notes: list[str]) -> None:
        self.notes, self.session = notes, None

    def on_start(self, session) -> None:
        self.session = session

    def on_breath(self, report) -> None:
        if 1 <= report.n <= len(self.notes):
            self.session.mark(self.notes[report.n - 1])


def test_notes_are_drawn_as_typed_short_beside_their_lines_and_listed_whole(tmp_path):
    """A therapist's note is text: "$...$" is not mathematics (it made matplotlib raise), a line
    break or tab is a space, a long note is cut beside its line (not across the page) and
    listed on page two with its time; a character the font lacks draws no warning."""
    import warnings

    notes = ["cost $x^{ \\frac$ now", "tab\there, line\nbreak", "Übung — 日本語",
             "a long note " * 12, "four", "five", "six", "seven"]
    path = tmp_path / "notes.sqlite"
    pacer = Pacer(load_protocol("coherence"))
    session = Session(SimulatedStrap(SimParams(seed=4), pacer), ScaledClock(None), pacer,
                      duration_s=100.0, listeners=[RecordingListener(path), _Marks(notes)])
    asyncio.run(session.run())
    out = tmp_path / "notes.pdf"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["report", str(path), "--pdf", str(out)]) == 0
    assert not [w for w in caught if "Glyph" in str(w.message)]
    one, two = (" ".join(p.split()) for p in _text(out))
    assert "cost $x^{ \\frac$ now" in one and "tab here, line break" in one
    assert "a long note a long note a l…" in one and "a long note " * 3 not in one
    assert "Markers" in two
    assert re.search(r"\d:\d\d cost \$x\^\{ \\frac\$ now \d:\d\d tab here, line break", two)
    assert ("a long note " * 12).strip() in two  # whole, on two lines
    # Page two's list ends where its room does, and says how many it left out.
    assert "seven" not in two and "more (biobreath export --to csv lists them all)" in two
