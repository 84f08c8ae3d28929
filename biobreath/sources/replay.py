"""Replay a recorded session as a beat source, through the same live core and window."""

from __future__ import annotations

from collections.abc import AsyncIterator

from biobreath.clock import Clock
from biobreath.events import Battery, Beat, Contact, DeviceInfo, Event, Link, LinkState
from biobreath.protocols import BreathingProtocol, parse_protocol
from biobreath.recording import SessionData
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


def recorded_protocol(data: SessionData) -> BreathingProtocol:
    """The protocol a session was recorded with, rebuilt from its metadata."""
    meta = data.meta.get("protocol") or {}
    steps = []
    for s in meta.get("steps") or []:
        step = {"label": s.get("label", ""), "seconds": max(3.0, float(s["duration_s"]))}
        if s.get("inhale_s") is None:
            step["paced"] = False
        else:
            step.update(inhale_s=s["inhale_s"], exhale_s=s["exhale_s"], hold_in_s=s["hold_in_s"],
                        hold_out_s=s["hold_out_s"])
        steps.append(step)
    if not steps:
        steps = [{"seconds": max(3.0, recorded_duration(data)), "paced": False}]
    return parse_protocol({"name": meta.get("name") or "recorded", "step": steps}, str(data.path))


def recorded_duration(data: SessionData) -> float:
    """How long (s) the session ran: until its stop event, or its last beat if it was cut short."""
    stops = [t for t, _, kind, _ in data.events if kind == "session_stop"]
    return max(stops + [float(data.arrival_s.max(initial=0.0))])
