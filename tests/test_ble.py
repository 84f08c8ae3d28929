"""Bluetooth path without hardware: bleak over bumble's virtual radio to a virtual Polar H10.

Every test runs on a virtual-time event loop, so minutes of strap time pass in a fraction of a
second and in the same order every run.
"""

import asyncio
import itertools

import numpy as np
import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDBusError,
)

from biobreath.errors import NoBluetoothError
from biobreath.events import Battery, Beat, Link, LinkState
from biobreath.sim.bumble_backend import BumbleClient, BumbleScanner, VirtualRadio, radio_backend
from biobreath.sim.physiology import SimParams
from biobreath.sim.virtual_h10 import SENSOR_EPOCH_S, Outage, VirtualStrap
from biobreath.sim.virtual_source import VirtualStraps
from biobreath.sim.virtual_time import collect_events, loop_clock, run_virtual
from biobreath.sources.factory import open_strap_source, scan_straps
from biobreath.straps.ble import BleStrap, ReconnectPolicy
from biobreath.straps.gatt import (
    BATTERY_LEVEL,
    FIRMWARE_REVISION,
    HEART_RATE_MEASUREMENT,
    HEART_RATE_SERVICE,
    MANUFACTURER_NAME,
    PMD_CONTROL_POINT,
    PMD_DATA,
    PMD_SERVICE,
    PMD_START_ECG_130HZ,
    PMD_STOP_ECG,
    encode_pmd_get_settings,
    encode_pmd_start,
    parse_heart_rate_measurement,
    parse_pmd_control_response,
    parse_pmd_features,
    parse_pmd_frame,
    parse_pmd_settings,
    pmd_sample_times_ns,
)
from biobreath.straps.scan import no_bluetooth, scan


def test_virtual_time_jumps_and_keeps_order():
    async def main():
        loop = asyncio.get_running_loop()
        order = []
        loop.call_later(3600.0, order.append, "hour")
        loop.call_later(1.0, order.append, "second")
        await asyncio.sleep(7200.0)
        return order, loop.time()

    assert run_virtual(main()) == (["second", "hour"], 7200.0)


def test_scan_finds_the_virtual_strap():
    results = run_virtual(scan_straps(5.0, virtual=True))
    assert len(results) == 1
    r = results[0]
    assert r.name.startswith("Polar H10 ") and r.profile.id == "polar-h10" and r.rssi < 0


def test_scan_lists_every_strap_on_the_radio():
    async def main():
        radio = VirtualRadio()
        straps = [VirtualStrap(radio, device_id=i) for i in ("0000000A", "0000000B")]
        for s in straps:
            await s.power_on()
        found = await scan(2.0, backend=radio_backend(radio))
        by_filter = await BleakScanner.find_device_by_filter(
            lambda d, ad: HEART_RATE_SERVICE in ad.service_uuids and d.name.endswith("B"),
            timeout=2.0, backend=BumbleScanner, radio=radio)
        return [r.name for r in found], by_filter.address, straps[1].address

    names, address, expected = run_virtual(main())
    assert names == ["Polar H10 0000000A", "Polar H10 0000000B"]
    assert address == expected


def test_gatt_services_battery_and_device_information_through_bleak():
    async def main():
        radio = VirtualRadio()
        strap = VirtualStrap(radio, params=SimParams(battery_percent=73), firmware="9.9.9")
        await strap.start(loop_clock())
        async with BleakClient(strap.address, backend=BumbleClient, radio=radio) as client:
            services = {s.uuid for s in client.services}
            battery = (await client.read_gatt_char(BATTERY_LEVEL))[0]
            maker = (await client.read_gatt_char(MANUFACTURER_NAME)).decode()
            firmware = (await client.read_gatt_char(FIRMWARE_REVISION)).decode()
            props = client.services.get_characteristic(HEART_RATE_MEASUREMENT).properties
            name, mtu = client.name, client.mtu_size
        await strap.stop()
        return services, battery, maker, firmware, props, name, mtu

    services, battery, maker, firmware, props, name, mtu = run_virtual(main())
    assert {HEART_RATE_SERVICE, PMD_SERVICE, "0000180f-0000-1000-8000-00805f9b34fb",
            "0000180a-0000-1000-8000-00805f9b34fb"} <= services
    assert (battery, maker, firmware, props) == (73, "Polar Electro Oy", "9.9.9", ["notify"])
    assert name == "Polar H10 A0B1C2D3" and mtu == 247


def session_times(frames, fs_hz: float) -> np.ndarray:
    """Session times (s) of every sample of consecutive PMD frames of the virtual strap."""
    prev, times = None, []
    for f in frames:
        times.append(pmd_sample_times_ns(f.timestamp_ns, f.samples.shape[0], prev, fs_hz))
        prev = f.timestamp_ns
    drift = 1 + SimParams().clock_drift_ppm * 1e-6
    return (np.concatenate(times) / 1e9 - SENSOR_EPOCH_S) / drift


def test_pmd_ecg_peaks_at_the_true_beats_and_acc_breathes():
    async def main():
        clock = loop_clock()
        radio = VirtualRadio()
        strap = VirtualStrap(radio, params=SimParams(seed=2))
        await strap.start(clock)
        answers, frames = [], []
        async with BleakClient(strap.address, backend=BumbleClient, radio=radio) as client:
            features = parse_pmd_features(await client.read_gatt_char(PMD_CONTROL_POINT))
            await client.start_notify(PMD_CONTROL_POINT,
                                      lambda _c, d: answers.append(parse_pmd_control_response(d)))
            await client.start_notify(PMD_DATA, lambda _c, d: frames.append(parse_pmd_frame(d)))
            await client.start_notify(HEART_RATE_MEASUREMENT, lambda _c, d: None)
            for command in (encode_pmd_get_settings("acc"), encode_pmd_start("ecg", 100, 14),
                            PMD_START_ECG_130HZ, encode_pmd_start("acc", 25, 16, 8)):
                await client.write_gatt_char(PMD_CONTROL_POINT, command, response=True)
            await clock.sleep_until(40.0)
            await client.write_gatt_char(PMD_CONTROL_POINT, PMD_STOP_ECG, response=True)
            n_at_stop = sum(f.measurement == "ecg" for f in frames)
            await clock.sleep_until(45.0)
        await strap.stop()
        truth = np.array([t for n in strap.delivered for t in n.true_beat_times])
        return features, answers, frames, n_at_stop, truth, strap.person

    features, answers, frames, n_at_stop, truth, person = run_virtual(main())
    assert features == {"ecg", "acc"}
    # Settings offered; 100 Hz ECG refused (invalid sample rate); start ECG, ACC, stop ECG.
    assert [(a.opcode, a.measurement, a.status) for a in answers] == [
        (1, "acc", 0), (2, "ecg", 8), (2, "ecg", 0), (2, "acc", 0), (3, "ecg", 0)]
    assert parse_pmd_settings(answers[0].parameters) == {
        "sample_rate": (25, 50, 100, 200), "resolution": (16,), "range": (2, 4, 8)}
    ecg = [f for f in frames if f.measurement == "ecg"]
    assert len(ecg) == n_at_stop  # nothing after the stop command
    assert all(f.samples.shape == (73,) for f in ecg)
    t, v = session_times(ecg, 130.0), np.concatenate([f.samples for f in ecg])
    peaks = t[np.flatnonzero((v[1:-1] > 800) & (v[1:-1] >= v[:-2]) & (v[1:-1] > v[2:])) + 1]
    # The strap's very first beat closes no RR, so truth starts one beat after the ECG does.
    peaks = peaks[peaks > truth[0] - 0.05]
    in_window = truth[(truth > t[0]) & (truth < t[-1])]
    assert abs(len(peaks) - len(in_window)) <= 1 and len(peaks) > 25
    nearest = np.min(np.abs(peaks[:, None] - truth[None, :]), axis=1)
    assert np.median(nearest) < 1 / 130 and nearest.max() < 2 / 130
    acc = [f for f in frames if f.measurement == "acc"]
    z = np.concatenate([f.samples[:, 2] for f in acc])
    assert acc[0].samples.shape == (36, 3) and 900 < np.median(z) < 1000
    # Breathing shows on the chest accelerometer: z falls as the lungs fill.
    t_acc = session_times(acc, 25.0)
    recent = t_acc > t_acc[-1] - 25.0  # the part of the breathing the strap still holds
    assert np.corrcoef(z[recent], person.volume_at(t_acc[recent]))[0, 1] < -0.8


collect = collect_events


def beats_match_deliveries(events, strap, device):
    """The RRs the source yielded for ``device`` are exactly those the strap delivered."""
    beats = [e for e in events if isinstance(e, Beat) and e.device == device]
    last = max(e.arrival for e in beats)
    sent = [r for n in strap.delivered if n.arrival_s <= last
            for r in parse_heart_rate_measurement(n.payload).rr_ticks]
    return [b.rr_ticks for b in beats] == sent and len(sent) > 0


def test_two_minutes_deliver_every_beat():
    async def main():
        clock = loop_clock()
        source = open_strap_source(virtual=True, sim_params=SimParams(seed=5))
        events = await collect(source, clock, 120.0)
        return events, source

    events, source = run_virtual(main())
    strap = source.peripherals[0]
    assert source.kind == "virtual" and source.devices[0].model == "Polar H10"
    links = [e for e in events if isinstance(e, Link)]
    assert [link.state for link in links] == [LinkState.CONNECTED]
    assert any(isinstance(e, Battery) and e.percent == 90 for e in events)
    assert beats_match_deliveries(events, strap, strap.address)
    beats = [e for e in events if isinstance(e, Beat)]
    assert len(beats) > 100 and not strap.undelivered[1:]  # at most the one sent before subscribing
    truth = np.array([t for n in strap.delivered for t in n.true_beat_times])[:len(beats)]
    err = np.abs(np.array([b.t for b in beats]) - truth)
    assert np.median(err[30:]) < 0.05


def test_session_records_every_beat_the_strap_sent(tmp_path):
    """The whole path: virtual strap -> bumble -> bleak -> source -> session -> recording."""
    from biobreath.core.pacer import Pacer
    from biobreath.files.protocols import load_protocol
    from biobreath.files.recording import read_session
    from biobreath.session import Session
    from biobreath.session.recorder import RecordingListener

    path = tmp_path / "virtual.biobreath"

    async def main():
        pacer = Pacer(load_protocol("coherence"))
        source = open_strap_source(virtual=True, sim_params=SimParams(seed=5), pacer=pacer)
        summary = await Session(source, loop_clock(), pacer, duration_s=120.0,
                                listeners=[RecordingListener(path)]).run()
        return summary, source.peripherals[0]

    summary, strap = run_virtual(main())
    data = read_session(path)
    sent = [r for n in strap.delivered for r in parse_heart_rate_measurement(n.payload).rr_ticks]
    assert summary.n_beats == len(sent) > 100
    assert data.rr_ticks.tolist() == sent
    assert data.devices[0].model == "Polar H10" and data.devices[0].profile == "polar-h10"


def test_forced_disconnect_is_followed_by_reconnection_in_the_same_stream():
    async def main():
        clock = loop_clock()
        source = open_strap_source(virtual=True, sim_params=SimParams(seed=6),
                                   outages=[Outage(60.0, 10.0)])
        events = await collect(source, clock, 120.0)
        return events, source

    events, source = run_virtual(main())
    strap = source.peripherals[0]
    links = [e for e in events if isinstance(e, Link)]
    assert [link.state for link in links] == [
        LinkState.CONNECTED, LinkState.LOST, LinkState.RECONNECTED]
    lost, back = links[1], links[2]
    assert lost.t == pytest.approx(60.0, abs=0.01)
    assert 70.0 <= back.t <= 71.0  # reconnected within one advertising interval or so
    i_lost, i_back = events.index(lost), events.index(back)
    assert not any(isinstance(e, Beat) for e in events[i_lost:i_back])
    assert all(e.t < 60.0 for e in events[:i_lost] if isinstance(e, Beat))
    after = [e for e in events[i_back:] if isinstance(e, Beat)]
    assert after and min(e.arrival for e in after) > 70.0
    assert beats_match_deliveries(events, strap, strap.address)
    assert strap.link_drops == [(60.0, 70.0)]
    # What the strap made during the outage never arrived, and nothing was invented for it.
    assert all(60.0 <= n.arrival_s <= 70.5 for n in strap.undelivered[1:])


def test_long_outage_keeps_retrying_with_backoff():
    async def main():
        clock = loop_clock()
        radio = VirtualRadio()
        strap = VirtualStrap(radio, outages=[Outage(20.0, 45.0)])
        source = VirtualStraps([strap], radio,
                               policy=ReconnectPolicy(connect_timeout_s=3.0, max_delay_s=4.0))
        events = await collect(source, clock, 90.0)
        return events

    events = run_virtual(main())
    links = [e for e in events if isinstance(e, Link)]
    assert [link.state for link in links] == [
        LinkState.CONNECTED, LinkState.LOST, LinkState.RECONNECTED]
    # Attempts every few seconds (3 s timeout + at most 4 s pause): back within 7 s of the strap.
    assert 65.0 <= links[2].t <= 72.0


def test_several_straps_at_once():
    async def main():
        clock = loop_clock()
        source = open_strap_source(["11111111", "chest of person 2"], virtual=True,
                                   sim_params=SimParams(seed=1))
        events = await collect(source, clock, 60.0)
        return events, source

    events, source = run_virtual(main())
    a, b = source.peripherals
    assert a.name == "Polar H10 11111111" and a.params.seed == 1 and b.params.seed == 2
    assert {e.device for e in events} == {a.address, b.address}
    assert beats_match_deliveries(events, a, a.address)
    assert beats_match_deliveries(events, b, b.address)
    assert [d.address for d in source.devices] == [a.address, b.address]


def test_malformed_notification_is_dropped_and_the_stream_goes_on():
    async def main():
        clock = loop_clock()
        radio = VirtualRadio()
        strap = VirtualStrap(radio)
        source = VirtualStraps([strap], radio, targets=[strap.name])
        stream = source.events(clock)
        events, sent = [], False
        async for ev in stream:
            events.append(ev)
            if isinstance(ev, Beat) and ev.t > 10 and not sent:
                sent = True  # a uint16 heart rate cut short: not a valid 0x2A37 payload
                for conn in list(strap.device.connections.values()):
                    await strap.device.notify_subscriber(conn, strap.hrm, b"\x11\x00")
            if clock.now() > 20:
                break
        await stream.aclose()
        return events, source, strap.address

    events, source, address = run_virtual(main())
    assert source.malformed == {address: 1}
    assert any(isinstance(e, Beat) and e.t > 15 for e in events)
    assert len([e for e in events if isinstance(e, Link)]) == 1


def test_target_not_found_is_one_clear_error():
    async def main():
        source = VirtualStraps([], VirtualRadio(), targets=["Polar H10 FFFFFFFF"],
                               policy=ReconnectPolicy(scan_timeout_s=2.0))
        return await collect(source, loop_clock(), 10.0)

    with pytest.raises(Exception) as info:
        run_virtual(main())
    assert "Polar H10 FFFFFFFF" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("exc", [
    FileNotFoundError(2, "No such file or directory"),
    PermissionError(13, "Permission denied"),
    BleakDBusError("org.freedesktop.DBus.Error.ServiceUnknown", []),
    BleakDBusError("org.bluez.Error.NotReady", []),
    BleakBluetoothNotAvailableError("off", BleakBluetoothNotAvailableReason.POWERED_OFF),
])
def test_no_bluetooth_becomes_one_sentence(exc):
    err = no_bluetooth(exc, starting=False)
    assert isinstance(err, NoBluetoothError)
    text = str(err)
    assert text.startswith("no Bluetooth: ") and "\n" not in text and "--source sim" in text


def test_transient_link_errors_are_not_no_bluetooth():
    assert no_bluetooth(BleakDBusError("org.bluez.Error.Failed", ["le-connection-abort-by-local"]),
                        starting=False) is None
    assert no_bluetooth(TimeoutError(), starting=False) is None
    assert no_bluetooth(BleakDBusError("org.bluez.Error.Failed", []), starting=True) is not None


class _NoDbusScanner(BumbleScanner):
    async def start(self):
        raise FileNotFoundError(2, "No such file or directory", "/run/dbus/system_bus_socket")


def test_strap_source_without_bluetooth_raises_no_bluetooth(monkeypatch):
    source = BleStrap(["AA:BB:CC:DD:EE:FF"])
    monkeypatch.setattr(source, "_backend", lambda: {"backend": _NoDbusScanner})

    async def main():
        return await collect(source, loop_clock(), 1.0)

    with pytest.raises(NoBluetoothError):
        run_virtual(main())


def test_open_strap_source_kinds():
    real = open_strap_source(["AA:BB:CC:DD:EE:FF"])
    assert real.kind == "ble" and real.targets == ("AA:BB:CC:DD:EE:FF",)
    assert not hasattr(real, "peripherals")
    virtual = open_strap_source(virtual=True, sim_params=SimParams(seed=9))
    assert virtual.kind == "virtual" and len(virtual.peripherals) == 1
    # No --device: it looks for the first strap heard, as a real one is found.
    assert virtual.targets == ()
    named = open_strap_source(["11111111"], virtual=True, sim_params=SimParams(seed=9))
    assert named.targets == (named.peripherals[0].address,)
    assert virtual.metadata()["virtual_straps"][0]["seed"] == 9


def test_virtual_strap_refuses_a_clock_without_speed():
    from biobreath.clock import ScaledClock
    from biobreath.errors import BiobreathError

    source = open_strap_source(virtual=True)

    async def main():
        return await collect(source, ScaledClock(None), 10.0)

    with pytest.raises(BiobreathError, match="--speed"):
        asyncio.run(main())


# --- Polar Measurement Data through the source: raw ECG and chest acceleration ------------------


def test_session_over_the_virtual_strap_records_ecg_whose_r_peaks_meet_the_true_beats(tmp_path):
    """Virtual strap -> bleak -> source -> session -> file -> R-peaks, against the simulator."""
    from biobreath.core.ecg import compare_with_rr, detect_r_peaks
    from biobreath.core.pacer import Pacer
    from biobreath.core.respiration import RespirationTracker
    from biobreath.files.protocols import load_protocol
    from biobreath.files.recording import read_session
    from biobreath.session import Session
    from biobreath.session.recorder import RecordingListener

    path = tmp_path / "pmd.biobreath"
    pacer = Pacer(load_protocol("coherence"))

    async def main():
        source = open_strap_source(virtual=True, sim_params=SimParams(seed=11), pacer=pacer)
        await Session(source, loop_clock(), pacer, duration_s=120.0,
                      listeners=[RecordingListener(path)]).run()
        return source.peripherals[0]

    strap = run_virtual(main())
    data = read_session(path)
    assert len(data.ecg) == 1 and len(data.acc) == 1
    ecg, acc = data.ecg[0], data.acc[0]
    assert ecg.values.ndim == 1 and acc.values.shape[1] == 3
    assert ecg.t.size == pytest.approx(130 * (ecg.t[-1] - ecg.t[0]), rel=0.01)
    assert acc.t.size == pytest.approx(25 * (acc.t[-1] - acc.t[0]), rel=0.02)
    assert ecg.t[0] < 1.0 and acc.t[0] < 2.0 and ecg.t[-1] > 118.0

    truth = np.array([t for n in strap.delivered for t in n.true_beat_times])
    peaks = detect_r_peaks(ecg.t, ecg.values, 130.0)
    settled = truth[(truth > 20.0) & (truth < ecg.t[-1] - 1.0)]  # frames placed after 20 s
    c = compare_with_rr(peaks.t[(peaks.t > 19.8) & (peaks.t < ecg.t[-1] - 0.8)], settled)
    assert c.unmatched_beats == 0 and c.unmatched_peaks == 0 and settled.size > 90
    err = np.abs(c.diff_ms)
    assert np.median(err) < 8.0 and np.percentile(err, 99) < 10.0
    # The strap's own beat times (rebuilt from its RRs, once settled) meet the ECG's too.
    strap_beats = data.beat_time_s[(data.beat_time_s > 20.0) & (data.beat_time_s < 118.0)]
    beats = compare_with_rr(peaks.t, strap_beats)
    assert beats.unmatched_beats == 0 and abs(np.median(beats.diff_ms)) < 50.0

    tracker = RespirationTracker(pacer.volume)
    estimates = []
    for k in range(0, acc.t.size, 36):
        est = tracker.push(float(acc.t[k]), 25.0, acc.values[k:k + 36])
        estimates.append(est)
    assert estimates[-1].rate_bpm == pytest.approx(6.0, abs=0.4)
    assert estimates[-1].following.score > 70.0


def pmd_events(events, kind, device=None):
    return [e for e in events if isinstance(e, kind) and (device is None or e.device == device)]


def test_pmd_streams_follow_the_link_and_restart_after_a_reconnection():
    from biobreath.events import AccSamples, EcgSamples

    async def main():
        source = open_strap_source(virtual=True, sim_params=SimParams(seed=6),
                                   outages=[Outage(40.0, 10.0)])
        return await collect(source, loop_clock(), 80.0)

    events = run_virtual(main())
    links = [e for e in events if isinstance(e, Link)]
    assert [link.state for link in links] == [
        LinkState.CONNECTED, LinkState.LOST, LinkState.RECONNECTED]
    ecg, acc = pmd_events(events, EcgSamples), pmd_events(events, AccSamples)
    assert events.index(ecg[0]) > events.index(links[0])  # nothing before the link is announced
    assert all(e.uv.shape == (73,) and e.fs_hz == pytest.approx(130.0, rel=1e-3) for e in ecg)
    assert all(e.mg.shape == (36, 3) and e.fs_hz == pytest.approx(25.0, rel=1e-3) for e in acc)
    i_lost, i_back = events.index(links[1]), events.index(links[2])
    assert not pmd_events(events[i_lost:i_back], EcgSamples)
    after = pmd_events(events[i_back:], EcgSamples)
    assert after and after[0].t0 > 50.0 and after[-1].t0 > 78.0
    assert pmd_events(events[i_back:], AccSamples)
    # Within a connection the frames tile time (to a sample) as they arrive.
    before = ecg[:len(ecg) - len(after)]
    gaps = [b.t0 - (a.t0 + a.uv.size / a.fs_hz) for a, b in itertools.pairwise(before)]
    assert max(abs(g) for g in gaps[10:]) < 1 / 130


def test_pmd_can_be_turned_off():
    from biobreath.events import AccSamples, EcgSamples

    async def main():
        source = open_strap_source(virtual=True, pmd=False)
        return await collect(source, loop_clock(), 20.0), source

    events, source = run_virtual(main())
    assert any(isinstance(e, Beat) for e in events)
    assert not pmd_events(events, EcgSamples) and not pmd_events(events, AccSamples)
    assert source.metadata()["pmd"] is False


def test_a_refused_stream_is_left_out_and_the_others_go_on(monkeypatch, caplog):
    import biobreath.sim.virtual_h10 as vs
    from biobreath.events import AccSamples, EcgSamples

    monkeypatch.setattr(vs, "ACC_RATES_HZ", (50, 100, 200))  # this strap refuses 25 Hz

    async def main():
        return await collect(open_strap_source(virtual=True), loop_clock(), 20.0)

    with caplog.at_level("WARNING"):
        events = run_virtual(main())
    assert pmd_events(events, EcgSamples) and not pmd_events(events, AccSamples)
    assert any("refused the acc stream: invalid sample rate" in r.message for r in caplog.records)


def pmd_frames(duration_s: float, drift_ppm: float, seed: int, lost=()):
    """(arrival s, payload) of a 130 Hz ECG stream whose clock runs ``drift_ppm`` fast, each
    frame arriving 10-60 ms after its last sample; and the true session time of every sample."""
    from biobreath.straps.gatt import encode_pmd_frame

    rng = np.random.default_rng(seed)
    rate = 1.0 + drift_ppm * 1e-6
    frames, truth = [], []
    for k in range(int(duration_s * 130 / 73)):
        t = (k * 73 + np.arange(73)) / (130 * rate) + 3.0  # session s of each sample
        stamp = round((SENSOR_EPOCH_S + (t[-1] - 3.0) * rate) * 1e9)
        if k not in lost:
            frames.append((t[-1] + rng.uniform(0.010, 0.060),
                           encode_pmd_frame("ecg", stamp, np.zeros(73, dtype=np.int64))))
            truth.append(t)
    return frames, truth


@pytest.mark.parametrize("drift_ppm", [-40.0, 0.0, 40.0])
def test_pmd_decoder_places_samples_by_the_shortest_latency_seen(drift_ppm):
    from biobreath.straps.ble import PmdDecoder

    frames, truth = pmd_frames(3600.0, drift_ppm, seed=1)
    decoder = PmdDecoder("strap", {"ecg": 130.0}, latency_min_s=0.005, drift_ppm=50.0)
    events = [decoder.decode(a, p)[0] for a, p in frames]
    err = np.array([ev.t0 - t[0] for ev, t in zip(events, truth)])
    assert np.all(err > 0)  # never early: each bound is a true upper bound on the offset
    settled = err[len(err) // 60:]  # after the first minute
    # Late by the 5 ms no frame can reveal, plus the shortest excess latency seen lately.
    assert np.median(settled) < 0.009 and settled.max() < 0.015
    # The rate is the strap's own (its clock's drift is below what a frame could show).
    assert events[100].fs_hz == pytest.approx(130.0, rel=1e-6)


def test_pmd_decoder_spaces_samples_at_the_nominal_rate_after_a_lost_frame():
    from biobreath.straps.ble import PmdDecoder

    frames, truth = pmd_frames(30.0, 0.0, seed=2, lost={20})
    decoder = PmdDecoder("strap", {"ecg": 130.0})
    events = [decoder.decode(a, p)[0] for a, p in frames]
    assert events[20].fs_hz == pytest.approx(130.0, abs=1e-6)  # the frame after the loss
    assert events[20].t0 - truth[20][0] == pytest.approx(events[19].t0 - truth[19][0], abs=1e-3)
    assert decoder.decode(1.0, bytes([2]) + bytes(9) + bytes(6)) == []  # ACC was not started


def test_a_failure_to_start_pmd_leaves_the_heart_rate_running(monkeypatch, caplog):
    from bleak.exc import BleakError

    from biobreath.events import EcgSamples

    async def refuse(self, client, arrivals, address):
        raise BleakError("write not permitted")

    monkeypatch.setattr(BleStrap, "_start_pmd", refuse)

    async def main():
        return await collect(open_strap_source(virtual=True), loop_clock(), 30.0)

    with caplog.at_level("WARNING"):
        events = run_virtual(main())
    assert [e.state for e in events if isinstance(e, Link)] == [LinkState.CONNECTED]
    assert sum(isinstance(e, Beat) for e in events) > 20 and not pmd_events(events, EcgSamples)
    assert any("could not start the ECG and ACC streams" in r.message for r in caplog.records)
