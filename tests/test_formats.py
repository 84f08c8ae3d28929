"""Every beat format biobreath reads: recognised from its content (never from its name), read into
the beats it holds, and, when malformed, refused with one line naming the file, the format and the
line or field.

Files are written in the tests with each format's own library (pyedflib for EDF+, wfdb for WFDB
records); FIT files are built byte by byte following the FIT protocol (header, definition and data
records, CRC-16), as no FIT writer is needed for that. The Kubios HRV results file is a real one
(``tests/data/formats``, see ``tests/data/README.md``). Tests needing pyedflib, wfdb or fitdecode
skip without them; the ``test`` extra installs them.
"""

from __future__ import annotations

import asyncio
import json
import re
import struct
import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from biobreath.clock import ScaledClock
from biobreath.core.pacer import Pacer
from biobreath.errors import BiobreathError, SessionFileError
from biobreath.files.formats import ALIASES, FORMATS, detect_format
from biobreath.files.protocols import load_protocol
from biobreath.files.readers import read_rr, read_rr_all
from biobreath.session import Session
from biobreath.session.recorder import RecordingListener
from biobreath.sim.physiology import SimParams
from biobreath.sim.source import SimulatedStrap
from biobreath.sim.virtual_source import open_virtual_straps
from biobreath.sim.virtual_time import VirtualTimeLoop, loop_clock

DATA = Path(__file__).resolve().parent / "data" / "formats"
KUBIOS_REPORT = DATA / "kubios_hrv_3.1_report.txt"
RNG = np.random.default_rng(11)
RR = np.round(820 + 60 * np.sin(np.arange(150) / 4) + RNG.normal(0, 15, 150)).astype(int)
START = datetime(2026, 11, 1, 10, 51, 5, 262000)


def _one_line(e: BaseException, path: Path, *fragments: str) -> str:
    msg = str(e)
    assert msg.startswith(f"{path}: "), msg
    assert "\n" not in msg and "\r" not in msg and len(msg) < 400, msg
    for f in fragments:
        assert f in msg, msg
    return msg


# -- Sessions made in the tests -----------------------------------------------------------------


def _simulated(path: Path, seconds: float = 60.0) -> Path:
    pacer = Pacer(load_protocol("coherence"))
    session = Session(SimulatedStrap(SimParams(seed=3), pacer), ScaledClock(None), pacer,
                      duration_s=seconds, listeners=[RecordingListener(path)])
    asyncio.run(session.run())
    return path


def _virtual(path: Path, labels: list[str], seconds: float) -> Path:
    async def main():
        pacer = Pacer(load_protocol("coherence"))
        source = open_virtual_straps(labels, sim_params=SimParams(seed=2), pacer=pacer)
        await Session(source, loop_clock(), pacer, duration_s=seconds,
                      listeners=[RecordingListener(path)]).run()

    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        runner.run(main())
    return path


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    d = tmp_path_factory.mktemp("sessions")
    return {"single": _simulated(d / "single.sqlite"),
            "group": _virtual(d / "group.sqlite", ["A", "B"], 45.0)}


# -- Files of each format -----------------------------------------------------------------------


def _polar(rr: np.ndarray, per_beat: bool = True) -> str:
    """Polar Sensor Logger's RR file: the phone time at each RR (``per_beat``) or, as the app
    logs them, at the notification that brought it (once a second)."""
    ends = np.cumsum(rr) / 1000.0
    stamps = ends if per_beat else np.ceil(ends)
    rows = [f"{(START + timedelta(seconds=float(s))).isoformat(timespec='milliseconds')};{v}"
            for s, v in zip(stamps, rr)]
    return "Phone timestamp;RR-interval [ms]\n" + "\n".join(rows) + "\n"


def _hrv_logger(rr: np.ndarray) -> str:
    since = np.r_[0, np.cumsum(rr)[:-1]]
    rows = [f"{(START + timedelta(milliseconds=int(s))):%Y-%m-%d %H:%M:%S.%f}"[:-3] + f",{v},{s}"
            for s, v in zip(since, rr)]
    return "date,rr,since start\n" + "\n".join(rows) + "\n"


def _crc16(data: bytes, crc: int = 0) -> int:
    """The FIT protocol's CRC-16."""
    table = (0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401,
             0xA001, 0x6C00, 0x7800, 0xB401, 0x5000, 0x9C01, 0x8801, 0x4400)
    for b in data:
        for nibble in (b & 0xF, b >> 4):
            tmp = table[crc & 0xF]
            crc = ((crc >> 4) & 0x0FFF) ^ tmp ^ table[nibble]
    return crc


def _fit(groups: list[list[int | None]], *, hrv: bool = True) -> bytes:
    """A FIT file by the FIT protocol: a file_id message (global 0), a record message (global
    20, heart rate), then one HRV message (global 78) per group: field 0 ``time``, uint16 array
    in 1/1000 s, None written as 0xFFFF (unused slot)."""
    recs = bytearray()
    # definition, local 0 = file_id: type (enum), manufacturer (uint16), time_created (uint32)
    recs += bytes([0x40, 0, 0]) + struct.pack("<HB", 0, 3) + bytes([0, 1, 0x00, 1, 2, 0x84,
                                                                    4, 4, 0x86])
    recs += bytes([0x00]) + struct.pack("<BHI", 4, 1, 1_100_000_000)
    # definition, local 1 = record: heart_rate (field 3, uint8)
    recs += bytes([0x41, 0, 0]) + struct.pack("<HB", 20, 1) + bytes([3, 1, 0x02])
    recs += bytes([0x01, 72])
    for g in groups if hrv else []:
        recs += bytes([0x42, 0, 0]) + struct.pack("<HB", 78, 1) + bytes([0, 2 * len(g), 0x84])
        recs += bytes([0x02]) + b"".join(struct.pack("<H", 0xFFFF if v is None else v)
                                         for v in g)
    head = struct.pack("<BBHI4s", 14, 0x20, 2132, len(recs), b".FIT")
    head += struct.pack("<H", _crc16(head))
    body = head + bytes(recs)
    return body + struct.pack("<H", _crc16(body))


def _fit_groups(rr: np.ndarray) -> list[list[int | None]]:
    groups = [list(map(int, rr[k:k + 5])) for k in range(0, rr.size, 5)]
    groups[-1] += [None] * (5 - len(groups[-1]))
    return groups


def _edf(path: Path, beats: list[tuple[float, str]], extra: list[tuple[float, str]] = (),
         seconds: int | None = None) -> Path:
    pyedflib = pytest.importorskip("pyedflib")
    n = seconds or int(max(t for t, _ in beats)) + 2
    w = pyedflib.EdfWriter(str(path), 1, file_type=pyedflib.FILETYPE_EDFPLUS)
    w.setSignalHeaders([{"label": "Resp", "dimension": "uV", "sample_frequency": 10,
                         "physical_min": -1000, "physical_max": 1000, "digital_min": -32768,
                         "digital_max": 32767, "transducer": "", "prefilter": ""}])
    w.set_number_of_annotation_signals(4)
    w.writeSamples([np.zeros(10 * n)])
    for t, text in [*beats, *extra]:
        w.writeAnnotation(t, -1, text)
    w.close()
    return path


def _wfdb(folder: Path, name: str, ext: str, samples: np.ndarray, symbols: list[str],
          fs: float = 128.0) -> Path:
    """A PhysioNet-style record: a 2-signal header (and signal file) and beat annotations in
    ``name.ext`` (NSR databases: ``atr``; Fantasia: ``ecg``)."""
    wfdb = pytest.importorskip("wfdb")
    n = int(samples.max()) + 10
    wfdb.wrsamp(name, fs=fs, units=["mV", "mV"], sig_name=["ECG1", "ECG2"],
                p_signal=np.zeros((n, 2)), fmt=["16", "16"], adc_gain=[200.0, 200.0],
                baseline=[0, 0], write_dir=str(folder))
    wfdb.wrann(name, ext, samples, symbol=symbols, write_dir=str(folder))
    return folder / f"{name}.hea"


def _beats_and_symbols(rr_ms: np.ndarray, fs: float, odd: dict[int, str]):
    t = np.r_[0.5, 0.5 + np.cumsum(rr_ms) / 1000.0]
    samples = np.rint(t * fs).astype(int)
    symbols = ["N"] * samples.size
    for k, s in odd.items():
        symbols[k] = s
    return samples, symbols


# The name lies on purpose: detection goes by the content.
TEXT_FILES = {
    "text": lambda: "\n".join(map(str, RR)) + "\n",
    "polar": lambda: _polar(RR),
    "hrvlogger": lambda: _hrv_logger(RR),
    "biobreath-csv": lambda: "time_s,rr_ms,rr_ticks,artifact,device,person\n" + "".join(
        f"{t:.6f},{v:.3f},,0,Strap A,person 1\n" for t, v in zip(np.cumsum(RR) / 1000.0, RR)),
    "biobreath-json": lambda: ('{"format": "biobreath-export", "format_version": 1, "beats": '
                               f'{{"time_s": {(np.cumsum(RR) / 1000.0).tolist()}, '
                               f'"rr_ms": {RR.astype(float).tolist()}}}}}'),
}


@pytest.mark.parametrize("fmt", list(TEXT_FILES))
def test_text_formats_are_detected_from_their_content(tmp_path, fmt):
    path = tmp_path / "beats.edf"  # a misleading name
    path.write_text(TEXT_FILES[fmt]())
    assert detect_format(path) == fmt
    (rec,) = read_rr_all(path)
    assert rec.kind == fmt
    np.testing.assert_allclose(rec.rr_ms, RR)
    np.testing.assert_allclose(rec.beat_time_s, np.cumsum(RR) / 1000.0, atol=1e-6)


def test_binary_and_record_formats_are_detected_from_their_content(tmp_path, sessions):
    assert detect_format(sessions["single"]) == "session"
    assert detect_format(KUBIOS_REPORT) == "kubios"
    fit = tmp_path / "activity.txt"
    fit.write_bytes(_fit(_fit_groups(RR)))
    assert detect_format(fit) == "fit"
    t = np.cumsum(RR) / 1000.0
    edf = _edf(tmp_path / "beats.csv", [(x, "N") for x in t])
    assert detect_format(edf) == "edf"
    samples, symbols = _beats_and_symbols(RR, 128.0, {})
    hea = _wfdb(tmp_path, "16265", "atr", samples, symbols)
    assert detect_format(hea) == "wfdb"
    assert detect_format(tmp_path / "16265.atr") == "wfdb"     # any file of the record
    assert detect_format(tmp_path / "16265") == "wfdb"         # the record name, as WFDB takes
    # A .hea that is no WFDB header, and a file beside a header that is not its own, are text.
    fake = tmp_path / "notes.hea"
    fake.write_text("\n".join(map(str, RR)))
    assert detect_format(fake) == "text"


# -- Each format read -----------------------------------------------------------------------------


def test_a_real_kubios_hrv_results_file():
    (rec,) = read_rr_all(KUBIOS_REPORT)
    assert rec.kind == "kubios" and rec.unit == "s" and rec.rr_ms.size == 423
    # The report's own figures: Mean RR 707.5437 ms over the 5 min sample, beat times in "Time".
    assert np.mean(rec.rr_ms) == pytest.approx(707.5437, abs=1e-4)
    assert rec.beat_time_s[:3] == pytest.approx([0.766, 1.532, 2.259])
    assert rec.beat_time_s[-1] == pytest.approx(299.291)
    assert any("RR from column 3 ('RR interval') in s (from its unit row)" in n
               for n in rec.notes)
    assert read_rr(KUBIOS_REPORT, "kubios").rr_ms.size == 423


def _two_sample_report() -> str:
    lines = KUBIOS_REPORT.read_text().splitlines()
    at = next(k for k, ln in enumerate(lines) if ln.startswith("RR INTERVAL DATA"))
    out = lines[:at + 1]
    for ln in lines[at + 1:]:
        cells = ln.split(",")
        if len(cells) > 3:  # add a second sample's Time and RR columns: the first 100 beats again
            k = len(out) - (at + 5)
            extra = cells[1:3] if 0 <= k < 100 or len(out) < at + 5 else ["", ""]
            if ln.strip().startswith(",") and "SAMPLE" in ln:
                extra = ["    SAMPLE 2", ""]
            cells = cells[:-1] + extra + [""]
        out.append(",".join(cells))
    return "\r\n".join(out) + "\r\n"


def test_a_kubios_report_with_two_samples_gives_two_series_and_read_rr_asks(tmp_path):
    path = tmp_path / "report.txt"
    path.write_text(_two_sample_report())
    recs = read_rr_all(path)
    assert [r.person for r in recs] == ["sample 1", "sample 2"]
    assert recs[0].rr_ms.size == 423 and recs[1].rr_ms.size == 100
    np.testing.assert_array_equal(recs[1].rr_ms, recs[0].rr_ms[:100])
    with pytest.raises(SessionFileError) as e:
        read_rr(path)
    _one_line(e.value, path, "2 series", "sample 1", "sample 2", "person=")
    assert read_rr(path, person="sample 2").rr_ms.size == 100


@pytest.mark.parametrize("header", ["", "Time (s)\tRR (s)\n", "time\trr_ms\n"])
def test_kubios_rr_text_time_tab_rr(tmp_path, header):
    t = np.cumsum(RR) / 1000.0
    ms = header.endswith("rr_ms\n")
    path = tmp_path / "rr.txt"
    path.write_text(header + "".join(f"{a:.3f}\t{b if ms else b / 1000:.3f}\n"
                                     for a, b in zip(t, RR)))
    assert detect_format(path) == "text"  # Kubios's own RR text is plain RR text
    for fmt in ("kubios", None):
        (rec,) = read_rr_all(path, fmt)
        assert rec.kind == (fmt or "text")
        np.testing.assert_allclose(rec.rr_ms, RR)
        np.testing.assert_allclose(rec.beat_time_s, t, atol=1e-9)
        assert any(n.startswith("beat times from column 1") for n in rec.notes), rec.notes


def test_polar_sensor_logger_timestamps_give_beat_times_only_when_they_are_beats(tmp_path):
    path = tmp_path / "Polar_H10_RR.txt"
    path.write_text(_polar(RR, per_beat=True))
    (rec,) = read_rr_all(path)
    assert rec.kind == "polar" and rec.unit == "ms"
    np.testing.assert_allclose(rec.beat_time_s, np.cumsum(RR) / 1000.0, atol=1e-9)
    assert any(n.startswith("beat times from the phone timestamps") for n in rec.notes)
    first = START + timedelta(milliseconds=int(RR[0]))
    assert any(f"phone clock read {first.isoformat(sep=' ')} at the first RR" in n
               for n in rec.notes)
    # As the app logs them: one phone time per notification (several RRs at one time).
    path.write_text(_polar(RR, per_beat=False))
    (rec,) = read_rr_all(path)
    np.testing.assert_allclose(rec.beat_time_s, np.cumsum(RR) / 1000.0)
    assert any("laid end to end" in n for n in rec.notes)


def test_hrv_logger_since_start_marks_each_interval_start_and_repeats_are_left_out(tmp_path):
    text = _hrv_logger(RR).splitlines()
    text.insert(20, text[19])  # HRV Logger writes some rows twice
    path = tmp_path / "2025-03-15_RR_0001CTRL.csv"
    path.write_text("\n".join(text) + "\n")
    (rec,) = read_rr_all(path)
    assert rec.kind == "hrvlogger"
    np.testing.assert_allclose(rec.rr_ms, RR)
    np.testing.assert_allclose(rec.beat_time_s, np.cumsum(RR) / 1000.0)
    assert any("1 rows repeat an earlier row exactly" in n and "line 21" in n
               for n in rec.notes)
    assert any("start of its interval" in n for n in rec.notes)
    # Newer versions: a Unix-millisecond "timestamp" column.
    unix = ["timestamp,rr,since start"] + [
        f"{1762000000000 + int(s)},{v},{s}" for v, s in zip(RR, np.r_[0, np.cumsum(RR)[:-1]])]
    path.write_text("\n".join(unix) + "\n")
    assert detect_format(path) == "hrvlogger"
    np.testing.assert_allclose(read_rr(path).rr_ms, RR)


def test_elite_hrv_is_one_rr_in_ms_per_line(tmp_path):
    path = tmp_path / "2017-07-16 07-35-41.txt"
    path.write_text("\n".join(map(str, RR)) + "\n")
    assert detect_format(path) == "text"
    elite, text = read_rr(path, "elitehrv"), read_rr(path)
    assert elite.kind == "elitehrv"
    np.testing.assert_array_equal(elite.rr_ms, text.rr_ms)
    path.write_text("rr\n" + "\n".join(f"{i}\t{v}" for i, v in enumerate(RR)))
    with pytest.raises(SessionFileError) as e:
        read_rr(path, "elitehrv")
    _one_line(e.value, path, "Elite HRV export", "line 1")


@pytest.mark.parametrize("header, scale", [("rr_s", 1000.0), ("RR (ms)", 1.0), ("ibi", 1.0)])
def test_csv_with_rr_in_ms_or_s(tmp_path, header, scale):
    path = tmp_path / "rr.csv"
    path.write_text(f"beat,{header},hr\n" + "".join(
        f"{i},{v / scale:.4f},{60000 / v:.1f}\n" for i, v in enumerate(RR)))
    rec = read_rr(path, "csv")
    np.testing.assert_allclose(rec.rr_ms, RR, atol=0.05)


def test_edf_beat_annotations_flag_the_intervals_next_to_a_non_normal_beat(tmp_path):
    t = 1.0 + np.cumsum(RR) / 1000.0
    beats = [(x, "N") for x in t]
    beats[10] = (t[10], "V")
    beats[30] = (t[30], "R-peak (artifact)")
    path = _edf(tmp_path / "night.edf", beats, extra=[(5.0, "Apnea"), (7.0, "+")])
    (rec,) = read_rr_all(path)
    assert rec.kind == "edf" and rec.rr_ms.size == t.size - 1
    np.testing.assert_allclose(rec.beat_time_s, t[1:], atol=1e-4)
    np.testing.assert_allclose(rec.rr_ms, RR[1:], atol=0.2)
    assert set(np.flatnonzero(rec.artifact)) == {9, 10, 29, 30}
    assert any("2 of 150 beats are not normal" in n for n in rec.notes)


def test_edf_with_only_an_ecg_gets_beats_from_our_detector(tmp_path, sessions):
    pyedflib = pytest.importorskip("pyedflib")
    from biobreath.files.recording import read_session

    data = read_session(sessions["group"])
    ecg = data.ecg[0]
    fs = 130
    n = int(np.ceil(ecg.t.max())) * fs
    grid = np.zeros(n)
    idx = np.rint(ecg.t * fs).astype(int)
    grid[idx[idx < n]] = ecg.values[idx < n]
    path = tmp_path / "ecg.edf"
    w = pyedflib.EdfWriter(str(path), 2, file_type=pyedflib.FILETYPE_EDFPLUS)
    w.setSignalHeaders([{"label": label, "dimension": "mV", "sample_frequency": fs,
                         "physical_min": -32.768, "physical_max": 32.767, "digital_min": -32768,
                         "digital_max": 32767, "transducer": "", "prefilter": ""}
                        for label in ("Resp belt", "ECG lead I")])
    w.writeSamples([np.zeros(n), grid / 1000.0])
    w.close()
    (rec,) = read_rr_all(path)
    assert rec.kind == "edf" and any("ECG detector" in n and "'ECG lead I'" in n
                                     for n in rec.notes)
    strap = data.rr_ms[data.device_ids == 1]
    assert abs(rec.rr_ms.size - strap.size) <= 2
    # Interval by interval, the ECG's R-peaks agree with the strap's own RRs.
    m = min(rec.rr_ms.size, strap.size) - 4
    lag = int(np.argmin([np.median(np.abs(rec.rr_ms[k:k + m] - strap[:m])) for k in range(3)]))
    assert np.median(np.abs(rec.rr_ms[lag:lag + m] - strap[:m])) < 8.0


@pytest.mark.parametrize("name, ext", [("16265", "atr"), ("f1o01", "ecg")])
def test_wfdb_records_in_the_physionet_layouts(tmp_path, name, ext):
    rr = RR.astype(float)
    samples, symbols = _beats_and_symbols(rr, 128.0, {40: "V", 41: "+", 90: "~"})
    keep = [s != "+" and s != "~" for s in symbols]  # rhythm and noise marks are no beats
    hea = _wfdb(tmp_path, name, ext, samples, symbols)
    for path in (hea, tmp_path / f"{name}.{ext}", tmp_path / name):
        (rec,) = read_rr_all(path)
        assert rec.kind == "wfdb"
        t = samples[keep] / 128.0
        np.testing.assert_allclose(rec.beat_time_s, t[1:])
        np.testing.assert_allclose(rec.rr_ms, np.diff(t) * 1000.0)
        # Beat 40 is a V: the intervals ending at it (39) and after it (40) are flagged.
        assert set(np.flatnonzero(rec.artifact)) == {39, 40}
        assert any(f"beat annotations in {name}.{ext}" in n for n in rec.notes)


def test_fit_hrv_messages(tmp_path):
    pytest.importorskip("fitdecode")
    path = tmp_path / "2026-11-01-10-51-05.fit"
    path.write_bytes(_fit(_fit_groups(RR)))
    (rec,) = read_rr_all(path)
    assert rec.kind == "fit" and rec.unit == "s"
    np.testing.assert_array_equal(rec.rr_ms, RR)  # 1 ms resolution, unused slots skipped
    np.testing.assert_allclose(rec.beat_time_s, np.cumsum(RR) / 1000.0)


# -- Malformed files: one line naming the format and the line or field --------------------------


def _fails(path: Path, *fragments: str, fmt: str | None = None) -> str:
    with pytest.raises(SessionFileError) as e:
        read_rr_all(path, fmt)
    return _one_line(e.value, path, *fragments)


def test_malformed_edf_files(tmp_path):
    good = _edf(tmp_path / "good.edf", [(x, "N") for x in np.cumsum(RR) / 1000.0])
    data = good.read_bytes()
    cases = {
        "signals": (data[:252] + b"ab  " + data[256:], ("EDF header", "'number of signals'")),
        "duration": (data[:244] + b"one sec " + data[252:], ("'data record duration'",)),
        "cut": (data[:-100], ("EDF", "truncated or damaged")),
        "short": (data[:100], ("EDF header", "shorter than the 256-byte header")),
    }
    for name, (content, fragments) in cases.items():
        path = tmp_path / f"{name}.edf"
        path.write_bytes(content)
        _fails(path, *fragments, fmt="edf")
    nothing = _edf(tmp_path / "nothing.edf", [(1.0, "Lights off")], seconds=5)
    _fails(nothing, "EDF", "no beat annotations and no ECG signal", "'Resp'")
    one = _edf(tmp_path / "one.edf", [(1.0, "N")], seconds=5)
    _fails(one, "EDF annotations", "1 annotated beat(s)")


def test_malformed_wfdb_records(tmp_path):
    samples, symbols = _beats_and_symbols(RR.astype(float), 128.0, {})
    hea = _wfdb(tmp_path, "rec", "atr", samples, symbols)
    good = hea.read_text()
    hea.write_text(good.replace("rec 2 128", "rec 2 fast", 1))
    _fails(hea, "WFDB record header", "line 1", "sampling frequency 'fast'")
    hea.write_text(good.replace("rec 2 128", "other 2 128", 1))
    assert detect_format(hea) == "text"  # the record line names another record
    _fails(hea, "WFDB record header", "record name 'other'", fmt="wfdb")
    hea.write_text(good)
    atr = tmp_path / "rec.atr"
    atr.write_bytes(atr.read_bytes()[:7] + b"\xff" * 9)
    _fails(hea, "WFDB record rec", "rec.atr")
    atr.unlink()  # then the ECG is searched for beats: these signals are flat
    _fails(hea, "WFDB record rec", "no heartbeats found in ECG channel 'ECG1'", fmt="wfdb")
    wfdb = pytest.importorskip("wfdb")
    wfdb.wrann("rec", "atr", np.array([10, 500]), symbol=["+", "~"], write_dir=str(tmp_path))
    _fails(hea, "rec.atr holds no beat annotations")


def test_malformed_fit_files(tmp_path):
    pytest.importorskip("fitdecode")
    good = _fit(_fit_groups(RR))
    cases = {
        "crc": (good[:-1] + bytes([good[-1] ^ 0xFF]), ("FIT file", "CRC")),
        "cut": (good[:-40], ("FIT file", "@")),
        "no hrv": (_fit([], hrv=False), ("FIT file", "no HRV messages (message 78)",
                                         "Log HRV")),
        "zero rr": (_fit([[800, 0, 810, None, None]]), ("FIT file", "HRV message 1",
                                                        "not a positive RR interval")),
    }
    for name, (content, fragments) in cases.items():
        path = tmp_path / f"{name}.fit"
        path.write_bytes(content)
        _fails(path, *fragments)


def test_malformed_json_exports(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"format": "biobreath-export", "format_version": 1,\n "beats": {')
    _fails(path, "biobreath JSON export", "line 2")
    path.write_text('{"format": "biobreath-export", "format_version": 1, "beats": '
                    '{"time_s": [1.0, 2.0], "rr_ms": [800, "fast"]}}')
    _fails(path, "biobreath JSON export", "field 'beats.rr_ms[1]'")
    path.write_text('{"format": "biobreath-export", "format_version": 9, "beats": {}}')
    _fails(path, "format_version 9 is newer")


def test_damaged_binary_files_are_one_line(tmp_path):
    """Bytes changed or cut anywhere in an EDF+, FIT or WFDB annotation file: read, or one
    line naming the format, never another exception (seeded, so every run is the same)."""
    pytest.importorskip("pyedflib")
    pytest.importorskip("wfdb")
    pytest.importorskip("fitdecode")
    t = 1 + np.cumsum(RR) / 1000
    samples, symbols = _beats_and_symbols(RR.astype(float), 128.0, {})
    hea = _wfdb(tmp_path, "rec", "atr", samples, symbols)
    goods = {"EDF": _edf(tmp_path / "good.edf", [(x, "N") for x in t]).read_bytes(),
             "FIT file": _fit(_fit_groups(RR)), "WFDB record": (tmp_path / "rec.atr").read_bytes()}
    rng = np.random.default_rng(5)
    for _ in range(60):
        for title, good in goods.items():
            data = bytearray(good)
            for _ in range(int(rng.integers(1, 4))):
                data[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
            if rng.random() < 0.2:
                data = data[:int(rng.integers(0, len(data)))]
            path = tmp_path / "rec.atr" if title == "WFDB record" else tmp_path / "x.bin"
            path.write_bytes(bytes(data))
            target = hea if title == "WFDB record" else path
            fmt = {"EDF": "edf", "FIT file": "fit", "WFDB record": "wfdb"}[title]
            try:
                read_rr_all(target, fmt)
            except SessionFileError as e:
                _one_line(e, target, title)


LOCATOR = re.compile(r"\bline \d+|field '|column \d|\d columns|median|section")


def _mutated(lines: list[str], k: int, cell: str, sep: str) -> str:
    out = list(lines)
    cells = out[k].split(sep)
    cells[min(len(cells) - 1, 1)] = cell
    out[k] = sep.join(cells)
    return "\n".join(out) + "\n"


TEXT_BASES = {
    "Polar Sensor Logger": (lambda: _polar(RR[:40]), ";", "polar"),
    "HRV Logger": (lambda: _hrv_logger(RR[:40]), ",", "hrvlogger"),
    "Kubios HRV results": (lambda: KUBIOS_REPORT.read_text(), ",", "kubios"),
    "Kubios RR text": (lambda: "".join(f"{t:.3f}\t{v}\n" for t, v in
                                       zip(np.cumsum(RR[:40]) / 1000, RR[:40])), "\t", "kubios"),
    "Elite HRV export": (lambda: "\n".join(map(str, RR[:40])) + "\n", "\t", "elitehrv"),
    "biobreath beats CSV": (lambda: TEXT_FILES["biobreath-csv"](), ",", "biobreath-csv"),
}
cells = st.one_of(st.text(max_size=10), st.floats().map(str),
                  st.sampled_from(["", "-1", "0", "nan", "inf", "1e9", "12:00", "2026-13-01",
                                   "800;900", "８００", "1_000", '"']))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(list(TEXT_BASES)), st.integers(0, 10**6), cells)
def test_a_damaged_line_of_a_text_format_is_read_or_named(tmp_path, title, where, cell):
    build, sep, fmt = TEXT_BASES[title]
    lines = build().splitlines()
    k = where % len(lines)
    path = tmp_path / "damaged.txt"
    path.write_text(_mutated(lines, k, cell, sep), encoding="utf-8")
    try:
        recs = read_rr_all(path, fmt)
    except SessionFileError as e:
        msg = _one_line(e, path)
        assert title in msg or "Kubios" in msg, msg
        assert LOCATOR.search(msg), msg
        return
    for rec in recs:
        assert rec.rr_ms.size == rec.beat_time_s.size > 0
        assert np.all(np.isfinite(rec.rr_ms)) and np.all((rec.rr_ms >= 1) & (rec.rr_ms <= 60000))
        assert np.all(np.isfinite(rec.beat_time_s))


json_values = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(),
                        st.text(max_size=5), st.lists(st.integers(0, 9), max_size=2))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["time_s", "rr_ms", "rr_ticks", "artifact"]), st.integers(0, 149),
       json_values)
def test_a_damaged_value_of_a_json_export_is_read_or_named(tmp_path, key, k, value):
    ticks = np.rint(RR * 1.024).astype(int)
    beats = {"time_s": (np.cumsum(ticks) / 1024).tolist(), "rr_ms": (ticks / 1.024).tolist(),
             "rr_ticks": ticks.tolist(), "artifact": [False] * RR.size}
    beats[key][k] = value
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"format": "biobreath-export", "format_version": 1,
                                "beats": beats}))
    try:
        (rec,) = read_rr_all(path)
    except SessionFileError as e:
        _one_line(e, path, "biobreath JSON export", "field 'beats.")
        return
    assert rec.rr_ms.size == RR.size and np.all(np.isfinite(rec.rr_ms))


# -- Whose beats: a file of several people never gives one of them silently ---------------------


def test_a_group_session_needs_a_device_or_person(sessions):
    path = sessions["group"]
    recs = read_rr_all(path)
    assert [r.person for r in recs] == ["person 1", "person 2"]
    with pytest.raises(SessionFileError) as e:
        read_rr(path)
    msg = _one_line(e.value, path, "holds 2 people", "person 1", "person 2", "device=")
    for r in recs:
        assert r.device.name in msg and r.device.address in msg
    assert read_rr(path, device=2).device == recs[1].device
    assert read_rr(path, device=recs[1].device.address.lower()).device == recs[1].device
    assert read_rr(path, device=recs[0].device.name).person == "person 1"
    assert read_rr(path, person="Person 2").device == recs[1].device
    with pytest.raises(SessionFileError) as e:
        read_rr(path, device=3)
    _one_line(e.value, path, "no series matches device=3", "person 1")
    with pytest.raises(SessionFileError) as e:
        read_rr(path, device=1, person="person 2")
    _one_line(e.value, path, "no series matches")
    # One strap: no need to choose.
    assert read_rr(sessions["single"]).person == "person 1"


def test_a_beats_csv_of_two_people_also_refuses_to_guess(tmp_path):
    rows = "".join(f"{t:.3f},{v},,0,{dev},{p}\n" for dev, p in (("A", "ann"), ("B", "bob"))
                   for t, v in zip(np.cumsum(RR) / 1000, RR))
    path = tmp_path / "both.csv"
    path.write_text("time_s,rr_ms,rr_ticks,artifact,device,person\n" + rows)
    assert [r.person for r in read_rr_all(path)] == ["ann", "bob"]
    with pytest.raises(SessionFileError):
        read_rr(path)
    assert read_rr(path, device="B").person == "bob"


# -- Names, and what is missing ------------------------------------------------------------------


def test_a_named_format_wins_and_an_unknown_one_is_one_line(tmp_path):
    path = tmp_path / "polar.txt"
    path.write_text(_polar(RR))
    assert read_rr(path, "text").kind == "text"  # the plain rules read it too (named RR column)
    _fails(path, "EDF header", fmt="edf")
    _fails(path, "unknown format 'garmin'", "known formats", fmt="garmin")
    assert set(ALIASES.values()) <= set(FORMATS)


def _edf_header_only() -> bytes:
    """The smallest consistent EDF by the EDF specification: one signal, one 1 s record of
    one sample."""
    head = (b"0".ljust(8) + b" " * 160 + b"01.11.2610.51.05" + b"512".ljust(8) + b" " * 44
            + b"1".ljust(8) + b"1".ljust(8) + b"1".ljust(4))
    signal = (b"ECG".ljust(16) + b" " * 80 + b"uV".ljust(8) + b"-100".ljust(8)
              + b"100".ljust(8) + b"-32768".ljust(8) + b"32767".ljust(8) + b" " * 80
              + b"1".ljust(8) + b" " * 32)
    return head + signal + b"\x00\x00"


@pytest.mark.parametrize("module, fmt, build", [
    ("pyedflib", "edf", lambda p: p.write_bytes(_edf_header_only())),
    ("wfdb", "wfdb", lambda p: p.write_text("x 1 128 100\n")),
    ("fitdecode", "fit", lambda p: p.write_bytes(_fit(_fit_groups(RR)))),
])
def test_a_missing_optional_package_is_one_line_saying_what_to_install(
        tmp_path, monkeypatch, module, fmt, build):
    path = tmp_path / ("x.hea" if fmt == "wfdb" else f"x.{fmt}")
    build(path)
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    try:
        read_rr_all(path, fmt)
    except BiobreathError as e:
        _one_line(e, path, f"needs the {module} package", 'pip install "biobreath[research]"')
    else:
        raise AssertionError("no error")
