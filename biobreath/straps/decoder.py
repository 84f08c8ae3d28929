"""Heart Rate Measurement notifications to typed events: the path every strap's bytes take.

The simulated strap, Bluetooth straps and the virtual strap all hand their raw 0x2A37 payloads
here: the GATT parser decodes them and the beat timer places each RR on the session clock.
"""

from __future__ import annotations

from biobreath.core.timing import BeatTimer, TimingParams
from biobreath.events import Beat, Contact, Event, HeartRate, Notification
from biobreath.straps.gatt import parse_heart_rate_measurement


class HeartRateDecoder:
    """Turns one strap's notifications into events; keeps the beat chain between them."""

    def __init__(self, device: str = "", timing: TimingParams = TimingParams()) -> None:
        self.device = device
        self.timer = BeatTimer(timing)
        self._contact: bool | None | str = "unset"

    def reset(self) -> None:
        """Call after a reconnection: RRs lost in the gap must not be bridged."""
        self.timer.reset()

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
        out.extend(Beat(float(t), int(r), arrival, dev, gap=placed.gap_before and k == 0)
                   for k, (t, r) in enumerate(zip(placed.times, m.rr_ticks)))
        return out
