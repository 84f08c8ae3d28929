"""The interface every beat source implements."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator

from biobreath.clock import Clock
from biobreath.events import DeviceInfo, Event


class BeatSource(abc.ABC):
    """An async stream of typed events from one or more straps.

    ``events(clock)`` is an async generator: it waits on ``clock`` (never on ``asyncio.sleep``
    directly) so that simulated and replayed sources can run faster than real time, and it ends
    when the source has nothing more to give (a replayed file ends; live straps never do).
    Every source emits, per strap, a ``Link`` event when it connects, then ``Notification``,
    ``HeartRate``, ``Contact``, ``Beat`` and ``Battery`` events as they happen, and ``Link``
    events for every loss and reconnection.
    """

    kind: str = "?"
    #: True for a source that carries the session's clock ticks itself (a recording): the
    #: session then makes none of its own, so it moves on exactly where the recorded one did.
    replays_clock: bool = False

    @property
    @abc.abstractmethod
    def devices(self) -> tuple[DeviceInfo, ...]:
        """The straps behind this source (known once connected)."""

    @abc.abstractmethod
    def events(self, clock: Clock) -> AsyncIterator[Event]:
        """Stream events until the source ends or the consumer stops iterating."""

    def metadata(self) -> dict[str, object]:
        """JSON-serialisable facts about the source, stored in the recording."""
        return {"kind": self.kind}

    async def aclose(self) -> None:  # noqa: B027 - most sources have nothing to release
        """Release the strap (disconnect, stop notifications). Safe to call twice."""
