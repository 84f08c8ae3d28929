"""A strap on a thread of its own keeps running while the session's loop is held (a window
painting a frame): its events are made, and timed, meanwhile, and reach the session in order."""

from __future__ import annotations

import asyncio
import threading

import pytest

from biobreath.clock import ScaledClock
from biobreath.events import Beat, DeviceInfo
from biobreath.sources.base import BeatSource
from biobreath.sources.threaded import OwnThreadSource

WAIT_S = 10.0  # only reached when the behaviour under test is broken (then the test fails)


class Scripted(BeatSource):
    """Yields beats 0..n-1; beat ``hold_at`` is made only while the session's loop is held."""

    kind = "scripted"

    def __init__(self, n: int, hold_at: int | None = None, fail_at: int | None = None) -> None:
        self.n, self.hold_at, self.fail_at = n, hold_at, fail_at
        self.held = threading.Event()      # set by the session's loop while it is blocked
        self.made_while_held = threading.Event()
        self.threads: set[str] = set()
        self.closed_on: str | None = None

    @property
    def devices(self) -> tuple[DeviceInfo, ...]:
        return ()

    async def events(self, clock):
        for k in range(self.n):
            self.threads.add(threading.current_thread().name)
            if k == self.fail_at:
                raise RuntimeError("strap stack failed")
            if k == self.hold_at:
                assert await asyncio.to_thread(self.held.wait, WAIT_S)
                self.made_while_held.set()
            yield Beat(float(k), 1024, float(k), "A")
            await asyncio.sleep(0)

    async def aclose(self) -> None:
        self.closed_on = threading.current_thread().name


def _collect(source: BeatSource, block_after: int | None = None) -> list[float]:
    async def main():
        got = []
        try:
            async for ev in source.events(ScaledClock(None)):
                got.append(ev.t)
                if len(got) == block_after:
                    # Hold this loop (as a long frame would) until the strap made its next beat.
                    source.inner.held.set()
                    assert source.inner.made_while_held.wait(WAIT_S)
        finally:
            await source.aclose()  # as the session always does
        return got

    return asyncio.run(main())


def test_the_strap_runs_while_the_session_loop_is_held():
    inner = Scripted(20, hold_at=5)
    source = OwnThreadSource(inner)
    assert _collect(source, block_after=5) == [float(k) for k in range(20)]
    assert inner.threads == {"biobreath-strap"}
    assert inner.closed_on == "biobreath-strap"


def test_a_failing_strap_stack_reaches_the_session():
    source = OwnThreadSource(Scripted(10, fail_at=3))
    with pytest.raises(RuntimeError, match="strap stack failed"):
        _collect(source)


def test_closing_ends_the_thread_and_a_source_never_started_closes_in_place():
    inner = Scripted(1000)
    source = OwnThreadSource(inner)

    async def main():
        agen = source.events(ScaledClock(None))
        await agen.__anext__()
        await agen.aclose()
        await source.aclose()

    asyncio.run(main())
    assert not any(t.name == "biobreath-strap" for t in threading.enumerate())
    idle = Scripted(1)
    asyncio.run(OwnThreadSource(idle).aclose())
    assert idle.closed_on == threading.current_thread().name
