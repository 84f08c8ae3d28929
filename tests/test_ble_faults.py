"""Straps as nasty as real ones: every fault of the virtual Polar H10, through bleak and the real
Bluetooth code, on the virtual radio and the virtual-time loop.

Each test first shows the fault bites (what a naive client meets), then that the source survives
it. Times are session seconds; the timed faults strike at 30 s unless a test says otherwise.
"""

import asyncio
import itertools
import logging

import numpy as np
import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakDBusError, BleakError, BleakGATTProtocolError

from biobreath.errors import BiobreathError, NoBluetoothError
from biobreath.events import AccSamples, Battery, Beat, EcgSamples, Link, LinkState
from biobreath.sim.bumble_backend import BumbleClient, BumbleScanner, VirtualRadio, radio_backend
from biobreath.sim.physiology import SimParams
from biobreath.sim.virtual_h10 import STRAP_FAULTS, Outage, VirtualStrap
from biobreath.sim.virtual_source import FAULTS, RADIO_FAULTS, VirtualStraps, open_virtual_straps
from biobreath.sim.virtual_time import collect_events, loop_clock, run_virtual
from biobreath.straps import ble
from biobreath.straps.ble import (
    BleStrap,
    LinkStats,
    PmdControl,
    ReconnectPolicy,
    needs_pairing,
    target_matches,
)
from biobreath.straps.gatt import (
    HEART_RATE_SERVICE,
    PMD_CONTROL_POINT,
    GattParseError,
    encode_pmd_control_response,
    encode_pmd_measurement_stopped,
    encode_pmd_start,
    parse_heart_rate_measurement,
    parse_pmd_control_response,
    parse_pmd_measurement_stopped,
)
from biobreath.straps.profiles import match_profile
from biobreath.straps.scan import adapter_unavailable

FAULT_AT_S = 30.0


collect = collect_events


def of(events, kind, device=None):
    return [e for e in events if isinstance(e, kind) and (device is None or e.device == device)]


def links(events):
    return [(e.state, e.detail) for e in of(events, Link)]


def faulty(fault, until_s=80.0, seed=3, **kwargs):
    """Events of one virtual H10 with ``fault``, read until ``until_s``, and the source."""
    async def main():
        source = open_virtual_straps(sim_params=SimParams(seed=seed), faults=[fault], **kwargs)
        return await collect(source, loop_clock(), until_s), source
    return run_virtual(main())


def sent_rr(strap, until_s):
    return [r for n in strap.delivered if n.arrival_s <= until_s
            for r in parse_heart_rate_measurement(n.payload).rr_ticks]


def max_gap(times):
    return max(b - a for a, b in itertools.pairwise(sorted(times)))


def test_every_fault_is_listed_with_what_it_does():
    assert set(FAULTS) == {"split-advert", "pair-required", "silent-drop", "pmd-stop",
                           "pmd-stall", "small-mtu", "battery-hidden", "adapter-off"}
    assert set(FAULTS) == set(STRAP_FAULTS) | set(RADIO_FAULTS)
    assert all(isinstance(text, str) and text and "\n" not in text for text in FAULTS.values())
    with pytest.raises(ValueError, match="known: split-advert"):
        open_virtual_straps(faults=["lossy"])


# --- split-advert: the name only in the scan response, reported after the first packet ----------


def test_split_advert_reports_the_advertising_packet_alone_first():
    async def main():
        radio = VirtualRadio()
        strap = VirtualStrap(radio, faults=["split-advert"])
        await strap.power_on()
        reports = []
        scanner = BleakScanner(lambda d, ad: reports.append((ad.local_name, ad.service_uuids)),
                               backend=BumbleScanner, radio=radio)
        await scanner.start()
        clock = loop_clock()
        await clock.sleep_until(0.35)  # three advertising intervals of virtual time
        await scanner.stop()
        await strap.stop()
        return reports, strap.name

    reports, name = run_virtual(main())
    first, second = reports[0], reports[1]
    assert first == (None, [HEART_RATE_SERVICE])  # as Windows reports the advertising packet
    assert second == (name, [HEART_RATE_SERVICE])  # and then the scan response, merged
    # What a choice from the first advertisement alone gets: the generic profile, no PMD.
    assert match_profile(first[0], first[1]).id == "generic"


def test_split_advert_still_gets_the_h10_profile_and_ecg_and_acc():
    async def main():
        radio = VirtualRadio()
        strap = VirtualStrap(radio, params=SimParams(seed=4), faults=["split-advert"])
        source = VirtualStraps([strap], radio, targets=[])  # the first strap heard
        return await collect(source, loop_clock(), 30.0), source, strap

    events, source, strap = run_virtual(main())
    (info,) = source.devices
    assert (info.profile, info.model, info.name) == ("polar-h10", "Polar H10", strap.name)
    assert of(events, EcgSamples) and of(events, AccSamples)
    assert links(events) == [(LinkState.CONNECTED, f"{strap.name} connected")]


def test_split_advert_with_a_target_name_matches_on_the_scan_response():
    async def main():
        radio = VirtualRadio()
        strap = VirtualStrap(radio, device_id="0000ABCD", faults=["split-advert"])
        source = VirtualStraps([strap], radio, targets=["0000abcd"])  # the id on the strap
        return await collect(source, loop_clock(), 10.0), source

    events, source = run_virtual(main())
    assert source.devices[0].name == "Polar H10 0000ABCD" and of(events, EcgSamples)


# --- pair-required: PMD writes refused with Insufficient Authentication until paired ------------


def test_pair_required_refuses_pmd_writes_until_the_central_pairs():
    async def main():
        radio = VirtualRadio()
        strap = VirtualStrap(radio, faults=["pair-required"])
        await strap.start(loop_clock())
        async with BleakClient(strap.address, backend=BumbleClient, radio=radio) as client:
            with pytest.raises(BleakGATTProtocolError) as refused:
                await client.write_gatt_char(PMD_CONTROL_POINT, encode_pmd_start("ecg", 130, 14),
                                             response=True)
            await client.pair()
            await client.write_gatt_char(PMD_CONTROL_POINT, encode_pmd_start("ecg", 130, 14),
                                         response=True)
        await strap.stop()
        return refused.value, strap

    refused, strap = run_virtual(main())
    assert refused.args[0] == 0x05 and needs_pairing(refused)
    assert len(strap.pairings) == 1 and [c[1:] for c in strap.pmd_commands] == [(2, "ecg", True)]


def test_pair_required_pairs_once_and_gets_ecg_and_acc_across_a_reconnection(caplog):
    with caplog.at_level(logging.WARNING, logger="biobreath"):
        events, source = faulty("pair-required", until_s=70.0, outages=[Outage(35.0, 5.0)])
    strap = source.peripherals[0]
    states = [s for s, _ in links(events)]
    assert states == [LinkState.CONNECTING, LinkState.CONNECTED, LinkState.LOST,
                      LinkState.RECONNECTED]
    assert "paired" in links(events)[0][1]  # the notice the UI can show, before CONNECTED
    assert [n.text for n in source.strap.notices] == [links(events)[0][1]]
    assert any("pairing" in r.message for r in caplog.records)
    # Paired once: the bond encrypts the second connection without asking again.
    assert len(strap.pairings) == 1 and source.strap.stats[strap.address].pairings == 1
    i_back = events.index(of(events, Link)[-1])
    for kind in (EcgSamples, AccSamples):
        assert of(events[:i_back], kind) and of(events[i_back:], kind)
    assert not any("could not start" in r.message for r in caplog.records)


# --- silent-drop: no notification, no disconnect ------------------------------------------------


@pytest.mark.parametrize("seed", [1, 3])
def test_silent_drop_is_a_lost_link_within_the_watchdog_timeout_and_the_session_resumes(seed):
    events, source = faulty("silent-drop", until_s=70.0, seed=seed)
    strap = source.peripherals[0]
    (state0, _), (state1, why), (state2, _) = links(events)
    assert (state0, state1, state2) == (LinkState.CONNECTED, LinkState.LOST,
                                        LinkState.RECONNECTED)
    lost, back = of(events, Link)[1:]
    last_before = max(b.arrival for b in of(events, Beat) if b.arrival < FAULT_AT_S)
    timeout = 5.0  # the Polar H10 profile's silence_timeout_s
    assert "no heart-rate notification for 5 s" == why
    assert lost.t == pytest.approx(last_before + timeout, abs=1.1)  # a notification a second
    assert lost.t - FAULT_AT_S <= timeout + 0.01
    assert back.t - lost.t < 2.0
    after = [b for b in of(events, Beat) if b.arrival > back.t]
    assert after and of(events[events.index(back):], EcgSamples)
    # Every RR the strap got through arrived once, and nothing was invented for the silence.
    assert [b.rr_ticks for b in of(events, Beat)] == sent_rr(strap, events[-1].t)
    assert strap.undelivered and all(n.arrival_s > FAULT_AT_S for n in strap.undelivered[1:])
    stats = source.strap.stats[strap.address]
    assert stats.silent_links == 1 and stats.pmd_restarts == 0  # no ECG restart on a dead link


def test_the_silence_timeout_comes_from_the_profile(monkeypatch):
    import dataclasses

    import biobreath.straps.profiles as profiles

    def shorter(p):
        quirks = dataclasses.replace(p.quirks, silence_timeout_s=2.0)
        return dataclasses.replace(p, quirks=quirks) if p.id == "polar-h10" else p

    patched = tuple(shorter(p) for p in profiles.load_profiles())
    monkeypatch.setattr(profiles, "_installed_profiles", lambda: patched)
    events, _ = faulty("silent-drop", until_s=45.0)
    lost = of(events, Link)[1]
    assert lost.detail == "no heart-rate notification for 2 s" and lost.t < FAULT_AT_S + 2.01


# --- pmd-stop / pmd-stall: ECG stopped by the strap, with or without a word ---------------------


def test_the_measurement_stopped_message_is_parsed_not_rejected():
    message = encode_pmd_measurement_stopped(["ecg"])
    assert message == bytes([0x01, 0x00])
    assert parse_pmd_measurement_stopped(message) == {"ecg"}
    assert parse_pmd_measurement_stopped(bytes([0x01, 0x00, 0x82])) == {"ecg", "acc"}
    with pytest.raises(GattParseError):
        parse_pmd_control_response(message)  # what the old code did with it
    with pytest.raises(GattParseError):
        parse_pmd_measurement_stopped(bytes([0x01]))


def test_pmd_stop_restarts_the_ecg_stream(caplog):
    with caplog.at_level(logging.WARNING, logger="biobreath"):
        events, source = faulty("pmd-stop", until_s=60.0)
    strap = source.peripherals[0]
    assert [s for s, _ in links(events)] == [LinkState.CONNECTED]  # the link never dropped
    assert strap.faults_struck == [(FAULT_AT_S, "pmd-stop")]
    ecg = of(events, EcgSamples)
    assert max(e.t for e in ecg) > 59.0 and max_gap([e.t for e in ecg]) < 1.5
    assert source.strap.stats[strap.address].pmd_restarts == 1
    assert [c[1:3] for c in strap.pmd_commands] == [(2, "ecg"), (2, "acc"), (2, "ecg")]
    assert not any("malformed" in r.message for r in caplog.records)
    # Frames after the restart are placed on the same timeline as before it.
    gaps = [b.t0 - (a.t0 + a.uv.size / a.fs_hz) for a, b in itertools.pairwise(ecg)]
    assert max(abs(g) for g in gaps[20:]) < 0.5


def test_pmd_stall_is_caught_by_the_stream_watchdog():
    events, source = faulty("pmd-stall", until_s=60.0)
    strap = source.peripherals[0]
    ecg_t = [e.t for e in of(events, EcgSamples)]
    silence = ReconnectPolicy().pmd_silence_s
    assert silence < max_gap(ecg_t) < silence + 1.5 and max(ecg_t) > 59.0
    assert [c[1:3] for c in strap.pmd_commands][2:] == [(3, "ecg"), (2, "ecg")]  # stop, start
    assert [s for s, _ in links(events)] == [LinkState.CONNECTED]


# --- small-mtu, battery-hidden -----------------------------------------------------------------


def test_small_mtu_gives_up_on_pmd_after_one_unanswered_command_and_keeps_heart_rate(caplog):
    with caplog.at_level(logging.WARNING, logger="biobreath"):
        events, source = faulty("small-mtu", until_s=30.0)
    assert not of(events, EcgSamples) and not of(events, AccSamples)
    assert len(of(events, Beat)) > 20
    connected = of(events, Link)[0]
    assert connected.state == LinkState.CONNECTED
    assert connected.t <= ReconnectPolicy().pmd_timeout_s + 0.5  # not held up any longer
    assert any("ATT MTU is 23 bytes" in r.message for r in caplog.records)


def test_battery_hidden_goes_on_without_a_battery_level_and_says_why(caplog):
    with caplog.at_level(logging.INFO, logger="biobreath"):
        events, _ = faulty("battery-hidden", until_s=20.0)
    assert not of(events, Battery) and of(events, Beat) and of(events, EcgSamples)
    assert any("battery plugin" in r.message for r in caplog.records)


# --- the computer's adapter off, at start and during a session ---------------------------------


def test_an_adapter_switched_off_during_a_session_is_waited_for():
    events, source = faulty("adapter-off", until_s=70.0)
    states = [s for s, _ in links(events)]
    assert states == [LinkState.CONNECTED, LinkState.LOST, LinkState.RECONNECTED]
    lost, back = of(events, Link)[1:]
    assert lost.t == pytest.approx(FAULT_AT_S, abs=0.01)
    # Tried again at least every adapter_poll_s while the adapter is off: back soon after it.
    assert FAULT_AT_S + 10.0 < back.t < FAULT_AT_S + 10.0 + ReconnectPolicy().adapter_poll_s + 1
    assert any("waiting for it" in n.text for n in source.strap.notices)
    assert of(events[events.index(back):], EcgSamples)


@pytest.mark.parametrize("back_after_s", [3.0, None])
def test_an_adapter_off_at_start_is_waited_for_a_while(back_after_s):
    async def main():
        clock = loop_clock()
        radio = VirtualRadio()
        await radio.set_powered(False)
        strap = VirtualStrap(radio)
        source = VirtualStraps([strap], radio, policy=ReconnectPolicy(adapter_wait_s=10.0))
        if back_after_s is not None:
            async def switch_on():
                await clock.sleep_until(back_after_s)
                await radio.set_powered(True)
            asyncio.get_running_loop().create_task(switch_on())
        return await collect(source, clock, 10.0), source

    if back_after_s is None:
        with pytest.raises(NoBluetoothError, match="powered off"):
            run_virtual(main())
        return
    events, source = run_virtual(main())
    connected = of(events, Link)[0]
    assert connected.state == LinkState.CONNECTED and back_after_s < connected.t < back_after_s + 5
    assert [n.text for n in source.strap.notices] == [
        "Bluetooth is turned off: waiting up to 10 s for Bluetooth; turn it on"]


def test_adapter_errors_that_are_worth_waiting_for():
    from bleak.exc import BleakBluetoothNotAvailableError as NotAvailable
    from bleak.exc import BleakBluetoothNotAvailableReason as Reason

    off = NotAvailable("off", Reason.POWERED_OFF)
    gone = NotAvailable("no adapters", Reason.NO_BLUETOOTH)
    not_ready = BleakDBusError("org.bluez.Error.NotReady", ["Resource Not Ready"])
    no_bluez = BleakDBusError("org.freedesktop.DBus.Error.ServiceUnknown", [])
    assert adapter_unavailable(off, starting=True) == "Bluetooth is turned off"
    assert adapter_unavailable(not_ready, starting=True) is not None
    # At start, no adapter or no BlueZ at all is one clear error; later it may come back.
    assert adapter_unavailable(gone, starting=True) is None
    assert adapter_unavailable(gone, starting=False) is not None
    assert adapter_unavailable(no_bluez, starting=True) is None
    assert adapter_unavailable(no_bluez, starting=False) is not None
    assert adapter_unavailable(PermissionError(13, "denied"), starting=False) is None
    assert adapter_unavailable(TimeoutError(), starting=False) is None


# --- several straps: one Bluetooth operation at a time ------------------------------------------


def _two_straps(until_s, lock=None, monkeypatch=None):
    if lock is not None:
        monkeypatch.setattr(ble, "bluetooth_lock", lock)

    async def main():
        source = open_virtual_straps(["11111111", "22222222"], sim_params=SimParams(seed=8))
        events = await collect(source, loop_clock(), until_s)
        return events, source

    return run_virtual(main())


def test_two_straps_connect_one_at_a_time_under_the_lock():
    events, source = _two_straps(40.0)
    radio = source.radio
    assert radio.refused_busy == 0
    attempts = sorted(radio.connect_log)
    assert [a[2] for a in attempts] == [p.address for p in source.peripherals]
    assert all(a[3] == "connected" for a in attempts)
    assert attempts[0][1] <= attempts[1][0]  # the second began once the first was done
    for p in source.peripherals:
        assert of(events, EcgSamples, p.address) and of(events, Beat, p.address)


def test_without_the_lock_the_radio_refuses_the_second_attempt(monkeypatch):
    # The control: each strap with its own lock is what the old code did.
    events, source = _two_straps(40.0, lock=asyncio.Lock, monkeypatch=monkeypatch)
    assert source.radio.refused_busy >= 1  # as BlueZ: org.bluez.Error.InProgress
    assert {e.device for e in of(events, Beat)} == {p.address for p in source.peripherals}


# --- cancellation closes every link --------------------------------------------------------------


@pytest.mark.parametrize("cancel_on", ["first connected", "both connected"])
def test_cancelling_the_source_disconnects_every_strap(cancel_on):
    async def main():
        clock = loop_clock()
        radio = VirtualRadio()
        straps = [VirtualStrap(radio, device_id=i) for i in ("0000000A", "0000000B")]
        for s in straps:
            await s.start(clock)
        source = BleStrap([s.address for s in straps], backend=radio_backend(radio))
        connected = []

        async def consume():
            async for ev in source.events(clock):
                if isinstance(ev, Link) and ev.state == LinkState.CONNECTED:
                    connected.append(ev.device)
                    if cancel_on == "first connected" or len(connected) == 2:
                        consumer.cancel()  # from outside the source, mid-stream

        consumer = asyncio.get_running_loop().create_task(consume())
        with pytest.raises(asyncio.CancelledError):
            await consumer
        await clock.sleep_until(clock.now() + 2.0)  # nothing comes up late either
        central = await radio.central()
        left = (len(central.connections), [len(s.device.connections) for s in straps])
        for s in straps:
            await s.stop()
        return connected, left, [a[3] for a in radio.connect_log]

    connected, (central_links, strap_links), outcomes = run_virtual(main())
    assert connected and central_links == 0 and strap_links == [0, 0]
    if cancel_on == "first connected":
        # The second strap was being connected (under the lock) when the cancellation came.
        assert outcomes == ["connected", "cancelled"]


# --- targets: by name and id, the remembered strap and its fallback ------------------------------


def test_targets_match_by_address_name_or_the_id_that_ends_the_name():
    name, address = "Polar H10 1A2B3C4D", "E0:1A:2B:3C:4D:10"
    assert target_matches("e0:1a:2b:3c:4d:10", address, name)
    assert target_matches("polar h10 1a2b3c4d", address, name)
    assert target_matches("1A2B3C4D", address, name)
    assert not target_matches("4D", address, name)  # too short to be an id
    assert not target_matches("Polar H10", address, name)
    assert not target_matches("1A2B3C4D", address, None)


def _remembered(fallback, present=("0000000B",)):
    async def main():
        radio = VirtualRadio()
        straps = [VirtualStrap(radio, device_id=i) for i in present]
        source = VirtualStraps(straps, radio, targets=["Polar H10 0000000A"],
                               fallback_to_any=fallback)
        return await collect(source, loop_clock(), 15.0), source

    return run_virtual(main())


def test_a_missing_remembered_strap_falls_back_to_another_strap_when_allowed():
    events, source = _remembered(True)
    other = source.peripherals[0]
    first = of(events, Link)[0]
    assert first.state == LinkState.CONNECTING and first.device == other.address
    assert "Polar H10 0000000A not heard" in first.detail and other.name in first.detail
    assert first.t == pytest.approx(ReconnectPolicy().fallback_after_s, abs=0.01)
    connected = of(events, Link)[1]
    assert connected.state == LinkState.CONNECTED and connected.t < first.t + 0.5
    assert of(events, Beat, other.address)


def test_a_missing_chosen_strap_is_a_clear_error_without_fallback():
    with pytest.raises(BiobreathError) as info:
        _remembered(False)
    text = str(info.value)
    assert "Polar H10 0000000A" in text and "at most 2 apps" in text and "\n" not in text


def test_the_remembered_strap_is_used_when_it_is_around():
    events, source = _remembered(True, present=("0000000B", "0000000A"))
    assert {e.device for e in of(events, Beat)} == {source.peripherals[1].address}
    assert not source.strap.notices


# --- a link a crashed run left open -------------------------------------------------------------


@pytest.mark.parametrize("probe", [True, False])
def test_a_link_a_crashed_run_left_open_is_taken_over_and_then_closed(probe):
    async def main():
        clock = loop_clock()
        radio = VirtualRadio()
        strap = VirtualStrap(radio)
        await strap.start(clock)
        crashed = BleakClient(strap.address, backend=BumbleClient, radio=radio)
        await crashed.connect()  # and never disconnected: the strap stops advertising
        backend = radio_backend(radio)
        if not probe:
            backend = type(backend)(backend.scanner, backend.client, backend.options)
        source = BleStrap([strap.name], backend=backend,
                          policy=ReconnectPolicy(scan_timeout_s=3.0))
        events = await collect(source, clock, 15.0)
        central = await radio.central()
        left = len(central.connections)
        await strap.stop()
        return events, left

    if not probe:
        with pytest.raises(BiobreathError, match="not connected to another app"):
            run_virtual(main())
        return
    events, left = run_virtual(main())
    assert of(events, Link)[0].state == LinkState.CONNECTED and of(events, Beat)
    assert left == 0


# --- the PMD control point, one command at a time ------------------------------------------------


def test_pmd_commands_go_one_at_a_time_each_waiting_for_its_answer():
    async def main():
        writes, answers = [], []
        stats = LinkStats()
        stopped = []
        control: PmdControl

        async def write(payload):
            writes.append((asyncio.get_running_loop().time(), payload))
            if len(writes) == 2:
                return  # the ECG start is lost once: no answer
            answer = encode_pmd_control_response(payload[0], "ecg" if payload[1] == 0 else "acc")
            loop = asyncio.get_running_loop()
            loop.call_later(0.3, control.on_indication, None, bytearray(answer))

        control = PmdControl(write, "strap", 2.0, stopped.append, stats)
        control.on_indication(None, bytearray(encode_pmd_measurement_stopped(["acc"])))
        ecg, acc = encode_pmd_start("ecg", 130, 14), encode_pmd_start("acc", 25, 16, 8)
        results = await asyncio.gather(control.command(acc), control.command(ecg))
        answers = [(r.opcode, r.measurement, r.status) for r in results]
        return writes, answers, stats, stopped

    writes, answers, stats, stopped = run_virtual(main())
    times = [t for t, _ in writes]
    assert [p[1] for _, p in writes] == [2, 0, 0]  # ACC; ECG, unanswered; ECG again
    assert times == pytest.approx([0.0, 0.3, 2.3])  # each write waited for the one before
    assert answers == [(2, "acc", 0), (2, "ecg", 0)]
    assert (stats.pmd_commands, stats.pmd_timeouts) == (3, 1)
    assert stopped == [frozenset({"acc"})]


def test_needs_pairing_recognises_each_platforms_error():
    assert needs_pairing(BleakGATTProtocolError(0x05))
    assert needs_pairing(BleakGATTProtocolError(0x0F))
    assert not needs_pairing(BleakGATTProtocolError(0x03))
    assert needs_pairing(BleakDBusError("org.bluez.Error.Failed", ["ATT error: 0x05"]))
    assert needs_pairing(BleakError("Could not write value: Protocol Error 0x05: Insufficient "
                                    "Authentication"))
    assert not needs_pairing(BleakError("Unreachable"))


def test_the_fault_profiles_keep_every_beat_the_strap_got_through():
    """Across all strap faults at once but the ones that lose the link, nothing is invented."""
    events, source = faulty("pmd-stop", until_s=45.0, seed=9)
    strap = source.peripherals[0]
    assert [b.rr_ticks for b in of(events, Beat)] == sent_rr(strap, events[-1].t)
    beat_t = np.array([b.t for b in of(events, Beat)])
    assert np.all(np.diff(beat_t) > 0)
