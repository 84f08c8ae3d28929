"""Replay a recorded session as a beat source, through the same live core and window."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

from biobreath.clock import Clock
from biobreath.events import DeviceInfo, Event
from biobreath.files.recording import SessionData, read_events
from biobreath.sources.base import BeatSource


class ReplaySource(BeatSource):
    """Yields every event a session file recorded from its source (beats, raw notifications, ECG
    and ACC frames, strap events and the session's clock ticks) in the order the session received
    them, each when the clock reaches the time it arrived, so the same session code computes the
    same numbers as it did live."""

    kind = "replay"
    replays_clock = True

    def __init__(self, data: SessionData) -> None:
        self.data = data

    @property
    def devices(self) -> tuple[DeviceInfo, ...]:
        return self.data.devices

    def metadata(self) -> dict[str, object]:
        return {"kind": self.kind, "file": str(self.data.path),
                "recorded": self.data.meta.get("source")}

    async def events(self, clock: Clock) -> AsyncIterator[Event]:
        last = -math.inf
        for ev in read_events(self.data):
            t = getattr(ev, "arrival", ev.t)  # a beat's t is when it beat
            # The events of one notification share its arrival: the clock waits once for them
            # (waiting again for a time already reached would only hand the loop round).
            if t > last:
                await clock.sleep_until(t)
                last = t
            yield ev
