"""GATT payloads: the worked examples of the reference, round trips, and fuzzing."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biobreath.straps.gatt import (
    PMD_START_ACC_200HZ,
    PMD_START_ECG_130HZ,
    PMD_STOP_ACC,
    PMD_STOP_ECG,
    GattParseError,
    encode_heart_rate_measurement,
    encode_pmd_control_response,
    encode_pmd_features,
    encode_pmd_frame,
    encode_pmd_get_settings,
    encode_pmd_settings,
    encode_pmd_start,
    parse_heart_rate_measurement,
    parse_pmd_command,
    parse_pmd_control_response,
    parse_pmd_features,
    parse_pmd_frame,
    parse_pmd_settings,
    pmd_sample_times_ns,
)

# --- Heart Rate Measurement (0x2A37) ------------------------------------------------------------

@pytest.mark.parametrize("hexbytes, hr, contact, energy, rr", [
    ("10 3C 00 04", 60, None, None, (1024,)),
    ("16 48 6A 03 8F 03", 72, True, None, (874, 911)),
    ("19 4B 00 10 27 20 03", 75, None, 10000, (800,)),
    ("11 00 00 FF FF 7F 80", 0, None, None, (65535, 32895)),
    ("04 50", 80, False, None, ()),
    ("02 50", 80, None, None, ()),  # contact bit without "supported" means nothing
])
def test_hrm_worked_examples(hexbytes, hr, contact, energy, rr):
    m = parse_heart_rate_measurement(bytes.fromhex(hexbytes))
    assert (m.heart_rate_bpm, m.contact, m.energy_kj, m.rr_ticks) == (hr, contact, energy, rr)


def test_hrm_rr_in_ms():
    m = parse_heart_rate_measurement(bytes.fromhex("16 48 6A 03 8F 03"))
    assert [round(r * 1000 / 1024, 2) for r in m.rr_ticks] == [853.52, 889.65]


@pytest.mark.parametrize("hexbytes, why", [
    ("", "is empty"),
    ("01", "uint16 heart rate missing"),
    ("01 3C", "uint16 heart rate missing"),
    ("08 3C 10", "energy expended missing"),
    ("10 3C 00", r"odd RR field \(1 bytes\)"),
    ("00 3C 00", "1 unexpected bytes"),
])
def test_hrm_malformed(hexbytes, why):
    with pytest.raises(GattParseError, match=why):
        parse_heart_rate_measurement(bytes.fromhex(hexbytes))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=40))
def test_hrm_any_bytes_parse_or_raise_parse_error(data):
    try:
        m = parse_heart_rate_measurement(data)
    except GattParseError:
        return
    # Whatever parses, parses losslessly: encoding what was read reads back the same.
    again = parse_heart_rate_measurement(
        encode_heart_rate_measurement(m.heart_rate_bpm, m.rr_ticks, m.contact, m.energy_kj))
    assert (again.heart_rate_bpm, again.contact, again.energy_kj, again.rr_ticks) == (
        m.heart_rate_bpm, m.contact, m.energy_kj, m.rr_ticks)


@settings(max_examples=300, deadline=None)
@given(hr=st.integers(0, 0xFFFF), rr=st.lists(st.integers(0, 0xFFFF), max_size=9),
       contact=st.sampled_from([None, True, False]), energy=st.none() | st.integers(0, 0xFFFF))
def test_hrm_encode_parse_round_trip(hr, rr, contact, energy):
    m = parse_heart_rate_measurement(encode_heart_rate_measurement(hr, rr, contact, energy))
    assert (m.heart_rate_bpm, m.rr_ticks, m.contact, m.energy_kj) == (
        hr, tuple(rr), contact, energy)


# --- Polar Measurement Data (PMD) ---------------------------------------------------------------

def test_pmd_control_commands_match_reference():
    assert PMD_START_ECG_130HZ == bytes.fromhex("02 00 00 01 82 00 01 01 0E 00")
    assert PMD_STOP_ECG == bytes.fromhex("03 00")
    assert PMD_START_ACC_200HZ == bytes.fromhex("02 02 00 01 C8 00 01 01 10 00 02 01 08 00")
    assert PMD_STOP_ACC == bytes.fromhex("03 02")
    assert encode_pmd_get_settings("acc") == bytes.fromhex("01 02")
    with pytest.raises(ValueError):
        encode_pmd_start("eeg", 130, 14)


def test_pmd_ecg_worked_example():
    f = parse_pmd_frame(bytes.fromhex("00 00 94 35 77 00 00 00 00 00 02 80 FF 02 80 00"))
    assert f.measurement == "ecg" and f.timestamp_ns == 2_000_000_000
    assert f.samples.shape == (2,) and f.samples.tolist() == [-32766, 32770]


def test_pmd_acc_worked_example():
    f = parse_pmd_frame(bytes.fromhex("02 00 94 35 77 00 00 00 00 01 F7 FF FF FF E7 03"))
    assert f.measurement == "acc" and f.timestamp_ns == 2_000_000_000
    assert f.samples.shape == (1, 3) and f.samples.tolist() == [[-9, -1, 999]]


def test_pmd_acc_8_and_24_bit_frames():
    f8 = parse_pmd_frame(bytes([2]) + bytes(8) + bytes([0, 0xFF, 2, 0x80]))
    assert f8.samples.tolist() == [[-1, 2, -128]]
    f24 = parse_pmd_frame(bytes([2]) + bytes(8) + bytes([2])
                          + bytes.fromhex("FF FF FF 01 00 00 00 00 80"))
    assert f24.samples.tolist() == [[-1, 1, -(1 << 23)]]


# Each payload is well formed but for the one reason given: the error must say that reason, and
# mending just that reason (``mended``) gives a frame that parses.
@pytest.mark.parametrize("hexbytes, why, mended", [
    ("00 00 94 35 77 00 00 00 00 00", "too short .*at least one sample must follow",
     "00 00 94 35 77 00 00 00 00 00 02 80 FF"),
    ("00 00 94 35 77 00 00 00 00 00 02 80", "ecg frame: 2 sample bytes is not a multiple of 3",
     "00 00 94 35 77 00 00 00 00 00 02 80 FF"),
    ("02 00 94 35 77 00 00 00 00 01 F7 FF FF FF E7",
     "acc frame: 5 sample bytes is not a multiple of 6",
     "02 00 94 35 77 00 00 00 00 01 F7 FF FF FF E7 03"),
    ("04 00 94 35 77 00 00 00 00 00 02 80 FF", "byte 0: unknown measurement type 4",
     "00 00 94 35 77 00 00 00 00 00 02 80 FF"),
    ("00 00 94 35 77 00 00 00 00 80 02 80 FF", "byte 9: compressed ecg frames",
     "00 00 94 35 77 00 00 00 00 00 02 80 FF"),
    ("00 00 94 35 77 00 00 00 00 07 02 80 FF", "byte 9: unsupported ecg frame type 7",
     "00 00 94 35 77 00 00 00 00 00 02 80 FF"),
    # A complete PPI sample (HR 60, PP interval 1000 ms, error estimate 10 ms, flags 0), refused
    # only because PPI is not a sample frame we decode: the same bytes as ECG parse.
    ("03 00 94 35 77 00 00 00 00 00 3C E8 03 0A 00 00", "unsupported ppi frame",
     "00 00 94 35 77 00 00 00 00 00 3C E8 03 0A 00 00"),
], ids=["no samples", "partial ECG sample", "partial ACC sample", "unknown measurement type",
        "compressed frame", "unknown frame type", "PPI"])
def test_pmd_malformed(hexbytes, why, mended):
    with pytest.raises(GattParseError, match=why):
        parse_pmd_frame(bytes.fromhex(hexbytes))
    assert parse_pmd_frame(bytes.fromhex(mended)).samples.size > 0


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=80))
def test_pmd_any_bytes_parse_or_raise_parse_error(data):
    try:
        f = parse_pmd_frame(data)
    except GattParseError:
        return
    assert f.samples.shape[0] >= 1 and f.samples.dtype == np.int64
    # Every byte was decoded: encoding the frame gives the payload back (byte 0's top two bits
    # are not part of the measurement type).
    again = encode_pmd_frame(f.measurement, f.timestamp_ns, f.samples, f.frame_type)
    assert again[0] == data[0] & 0x3F and again[1:] == data[1:]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_pmd_control_parsers_raise_only_parse_error(data):
    for parse in (parse_pmd_control_response, parse_pmd_command, parse_pmd_settings,
                  parse_pmd_features):
        try:
            parse(data)
        except GattParseError:
            pass


@settings(max_examples=200, deadline=None)
@given(ts=st.integers(0, (1 << 64) - 1),
       ecg=st.lists(st.integers(-(1 << 23), (1 << 23) - 1), min_size=1, max_size=73),
       acc=st.lists(st.tuples(*[st.integers(-32768, 32767)] * 3), min_size=1, max_size=30))
def test_pmd_frame_round_trip(ts, ecg, acc):
    f = parse_pmd_frame(encode_pmd_frame("ecg", ts, np.array(ecg)))
    assert f.timestamp_ns == ts and f.samples.tolist() == ecg
    g = parse_pmd_frame(encode_pmd_frame("acc", ts, np.array(acc)))
    assert g.samples.tolist() == [list(a) for a in acc]


def test_pmd_command_and_answer_round_trip():
    cmd = parse_pmd_command(PMD_START_ACC_200HZ)
    assert (cmd.opcode, cmd.measurement) == (2, "acc")
    assert cmd.settings == {"sample_rate": (200,), "resolution": (16,), "range": (8,)}
    assert parse_pmd_command(PMD_STOP_ECG).settings == {}
    r = parse_pmd_control_response(encode_pmd_control_response(2, "ecg", 0))
    assert r.ok and (r.opcode, r.measurement) == (2, "ecg")
    bad = parse_pmd_control_response(bytes.fromhex("F0 02 02 08"))
    assert not bad.ok and bad.status_text == "invalid sample rate"
    offer = encode_pmd_settings({0: (25, 50, 100, 200), 1: 16, 2: (2, 4, 8)})
    assert offer[:10] == bytes.fromhex("00 04 19 00 32 00 64 00 C8 00")
    assert parse_pmd_settings(offer) == {"sample_rate": (25, 50, 100, 200), "resolution": (16,),
                                         "range": (2, 4, 8)}


def test_pmd_features():
    assert parse_pmd_features(bytes([0x0F, 0x05])) == {"ecg", "acc"}
    assert parse_pmd_features(encode_pmd_features({"acc", "ppi"})) == {"acc", "ppi"}


def test_pmd_sample_times():
    t = pmd_sample_times_ns(2_000_000_000, 4, 1_960_000_000, 130.0)
    assert t.tolist() == [1_970_000_000, 1_980_000_000, 1_990_000_000, 2_000_000_000]
    first = pmd_sample_times_ns(1_000_000_000, 3, None, 100.0)
    assert first.tolist() == [980_000_000, 990_000_000, 1_000_000_000]
