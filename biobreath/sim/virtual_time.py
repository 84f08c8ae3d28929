"""An asyncio event loop on virtual time, for running a Bluetooth link faster than real time.

The loop's ``time()`` starts at 0 and moves only when nothing is ready to run: it then jumps to
the next scheduled timer instead of sleeping. Everything that waits through the loop (asyncio
sleeps and timeouts, bumble's advertising and connection timers, a
:class:`~biobreath.clock.ScaledClock` built on ``loop.time``) then runs in virtual seconds, as
fast as the computer can compute them and in a deterministic order. Real I/O still works: the
loop polls its file descriptors before every jump, and blocks on them only when no timer is left.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

from biobreath.clock import ScaledClock

T = TypeVar("T")


class _JumpingSelector:
    """Wraps the loop's selector: a wait with a timeout becomes a jump of the virtual clock."""

    def __init__(self, real: selectors.BaseSelector, loop: VirtualTimeLoop) -> None:
        self._real = real
        self._loop = loop

    def select(self, timeout: float | None = None):
        events = self._real.select(0)
        if events or timeout == 0:
            return events
        if timeout is None:
            return self._real.select(None)
        self._loop._now += float(timeout)
        return []

    def __getattr__(self, name: str):
        return getattr(self._real, name)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose clock jumps to the next timer whenever it would wait."""

    def __init__(self) -> None:
        super().__init__()
        self._now = 0.0
        self._selector = _JumpingSelector(self._selector, self)

    def time(self) -> float:
        return self._now


def run_virtual(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a fresh :class:`VirtualTimeLoop`."""
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(main)


def loop_clock() -> ScaledClock:
    """A session clock (s from now) that follows the running loop's time.

    On a :class:`VirtualTimeLoop` it is a virtual clock that still waits like a real one, so a
    strap peripheral, the link and the session all share one timeline.
    """
    return ScaledClock(1.0, monotonic=asyncio.get_running_loop().time)


async def collect_events(source, clock: ScaledClock, until_s: float) -> list:
    """Every event ``source`` yields on ``clock`` until the clock reaches ``until_s`` (s); the
    stream is closed after (for tests and benchmarks of sources)."""
    events = []
    stream = source.events(clock)
    async for ev in stream:
        events.append(ev)
        if clock.now() >= until_s:
            break
    await stream.aclose()
    return events
