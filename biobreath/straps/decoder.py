"""Heart Rate Measurement notifications to typed events: the path every strap's bytes take.

The simulated strap, Bluetooth straps and the virtual strap all hand their raw 0x2A37 payloads
here: the GATT parser decodes them and the beat timer places each RR on the session clock.
"""

from __future__ import annotations

from biobreath.core.timing import BeatTimer, TimingParams
from biobreath.events import Beat, Contact, Event, HeartRate, Notification, Timing
from biobreath.straps.gatt import parse_heart_rate_measurement


class HeartRateDecoder:
    """Turns one strap's notifications into events; keeps the beat chain between them."""

    def __init__(self, device: str = "", timing: TimingParams = TimingParams()) -> None:
        self.device = device
        self.timer = BeatTimer(timing)
        self._contact: bool | None | str = "unset"
        self._degraded = True  # unsettled until the timer first settles: no alarm at the start

    def reset(self) -> None:
        """Call after a reconnection: RRs lost in the gap must not be bridged."""
        self.timer.reset()
        self._degraded = True

    def decode(self, arrival: float, payload: bytes) -> list[Event]:
        """Events for one notification that arrived at ``arrival`` (s).

        Raises :class:`biobreath.straps.gatt.GattParseError` for malformed bytes; the caller decides
        whether to drop the notification or stop.
        """
        m = parse_heart_rate_measurement(payload)
        dev = self.device
        out: list[Event] = [Notification(arrival, bytes(payload), dev),
                            HeartRate(arrival, m.heart_rate_bpm, dev)]
        if m.contact != self._contact:
            self._contact = m.contact
            out.append(Contact(arrival, m.contact, dev))
        placed = self.timer.place(arrival, m.rr_ticks)
        first = True
        for t, r, kept in zip(placed.times, m.rr_ticks, placed.in_chain):
            # An RR the timer left out of the chain (a bogus short one) makes no beat; its raw
            # bytes stay in the Notification, and so in the recording.
            if kept:
                out.append(Beat(float(t), int(r), arrival, dev, gap=placed.gap_before and first))
                first = False
        if self.timer.degraded != self._degraded:
            quality = self.timer.quality
            self._degraded = quality.degraded
            out.append(Timing(arrival, quality.degraded, quality.uncertainty_ms,
                              quality.lateness_ms, dev))
        return out
