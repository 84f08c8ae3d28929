"""Session clocks: wall time for live straps, a virtual clock for simulation and replay.

Every time-driven part of a session asks the clock for ``now()`` and waits with
``sleep_until(t)``; a virtual clock maps session seconds to wall seconds at any speed, or (speed
``None``, the CLI's ``max``) does not wait at all, so a session runs as fast as it can compute.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    speed: float | None

    def now(self) -> float:
        """Session time (s)."""

    async def sleep_until(self, t: float) -> None:
        """Wait until session time ``t`` (s)."""

    def wall_delay(self, t: float) -> float | None:
        """Wall seconds until session time ``t``; ``None`` when the clock never waits."""


class ScaledClock:
    """Session time that runs ``speed`` times faster than the wall clock, from 0 s at start.

    ``speed=1`` is the live wall clock. ``speed=None`` is as fast as possible: ``sleep_until``
    jumps the clock forward and only yields to the event loop, so a single producer (the strap
    being simulated or replayed) sets the pace.
    """

    def __init__(self, speed: float | None = 1.0, start: float = 0.0,
                 monotonic=time.monotonic) -> None:
        if speed is not None and not speed > 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._monotonic = monotonic
        self._t0 = start
        self._m0 = monotonic()
        self._t = start

    def now(self) -> float:
        if self.speed is None:
            return self._t
        return self._t0 + (self._monotonic() - self._m0) * self.speed

    def wall_delay(self, t: float) -> float | None:
        if self.speed is None:
            return None
        return max(0.0, (t - self.now()) / self.speed)

    async def sleep_until(self, t: float) -> None:
        if self.speed is None:
            self._t = max(self._t, t)
            await asyncio.sleep(0)
            return
        while (delay := self.wall_delay(t)) > 0:
            await asyncio.sleep(delay)


def wall_clock() -> ScaledClock:
    return ScaledClock(1.0)
