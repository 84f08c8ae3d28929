"""Replay a recorded session as a beat source, through the same live core and window."""

from __future__ import annotations

from collections.abc import AsyncIterator

from biobreath.clock import Clock
from biobreath.events import Battery, Beat, Contact, DeviceInfo, Event, Link, LinkState
from biobreath.files.recording import SessionData
from biobreath.sources.base import BeatSource

_LINK = {f"link_{s.value}": s for s in LinkState}


class ReplaySource(BeatSource):
    """Yields a session file's beats and strap events at their recorded arrival times."""

    kind = "replay"

    def __init__(self, data: SessionData) -> None:
        self.data = data

    @property
    def devices(self) -> tuple[DeviceInfo, ...]:
        return self.data.devices

    def metadata(self) -> dict[str, object]:
        return {"kind": self.kind, "file": str(self.data.path), "recorded": self.data.meta.get("source")}

    def _timeline(self) -> list[tuple[float, int, Event]]:
        d = self.data
        addr = {i + 1: dev.address for i, dev in enumerate(d.devices)}
        items: list[tuple[float, int, Event]] = []
        for k in range(d.rr_ms.size):
            items.append((float(d.arrival_s[k]), 1, Beat(float(d.beat_time_s[k]), int(d.rr_ticks[k]),
                                                         float(d.arrival_s[k]), addr.get(int(d.device_ids[k]), ""))))
        for t, dev_id, kind, value in d.events:
            dev = addr.get(dev_id, "") if dev_id is not None else ""
            if kind in _LINK:
                items.append((t, 0, Link(t, _LINK[kind], value or "", dev)))
            elif kind == "battery":
                items.append((t, 0, Battery(t, int(value), dev)))
            elif kind == "contact":
                items.append((t, 0, Contact(t, value, dev)))
        items.sort(key=lambda x: (x[0], x[1]))
        return items

    async def events(self, clock: Clock) -> AsyncIterator[Event]:
        for t, _, ev in self._timeline():
            await clock.sleep_until(t)
            yield ev

