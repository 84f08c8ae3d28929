"""A source run on a thread of its own, so that a busy window never delays a strap.

In the window, the session shares its event loop with Qt: while a frame is painted (or the
computer is busy), nothing else on that loop runs. A Bluetooth notification that arrives then
would wait for the frame to end before it is stamped with its arrival time, and the beat timer
would take the late stamp for a late (or lost) notification. Here the strap's whole stack (bleak,
the decoder, the beat timer, and for the virtual strap its simulated radio) runs on its own
thread and event loop: arrivals are stamped as they happen, and the events cross to the session's
loop already timed. The clock must be safe to read from both threads (a wall or scaled clock is;
a virtual-time clock is not, and needs no thread: nothing real can be late on it).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Future

from biobreath.clock import Clock
from biobreath.events import DeviceInfo, Event
from biobreath.sources.base import BeatSource

_DONE = object()
STOP_S = 2.0  # wall seconds the strap's leftover tasks get to finish once the source is closed


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class OwnThreadSource(BeatSource):
    """``inner``, with its ``events`` and ``aclose`` run on a thread and event loop of their own.

    Everything else (kind, devices, metadata) is read from ``inner`` as it is: plain attributes
    that the strap's thread only replaces, never mutates in place.
    """

    def __init__(self, inner: BeatSource) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.replays_clock = inner.replays_clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pump: Future | None = None

    @property
    def devices(self) -> tuple[DeviceInfo, ...]:
        return self.inner.devices

    def metadata(self) -> dict[str, object]:
        return self.inner.metadata()

    def _start(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            started = threading.Event()

            def serve() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(started.set)
                try:
                    loop.run_forever()
                finally:
                    # What the strap left running (bleak and bumble tasks) ends with the thread.
                    pending = asyncio.all_tasks(loop)
                    for task in pending:
                        task.cancel()
                    if pending:
                        loop.run_until_complete(asyncio.wait(pending, timeout=STOP_S))
                    loop.run_until_complete(loop.shutdown_asyncgens())
                    loop.close()

            self._thread = threading.Thread(target=serve, name="biobreath-strap", daemon=True)
            self._thread.start()
            started.wait()
            self._loop = loop
        return self._loop

    async def events(self, clock: Clock) -> AsyncIterator[Event]:
        session_loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()

        def deliver(item: object) -> None:
            session_loop.call_soon_threadsafe(queue.put_nowait, item)

        async def pump() -> None:
            try:
                async for ev in self.inner.events(clock):
                    deliver(ev)
            except asyncio.CancelledError:
                raise
            except BaseException as e:  # noqa: BLE001 - handed to the session to report
                deliver(_Failed(e))
            else:
                deliver(_DONE)

        self._pump = asyncio.run_coroutine_threadsafe(pump(), self._start())
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    return
                if isinstance(item, _Failed):
                    raise item.error
                yield item
        finally:
            self._pump.cancel()

    async def aclose(self) -> None:
        if self._loop is None:
            await self.inner.aclose()
            return
        loop, thread = self._loop, self._thread
        try:
            if self._pump is not None:
                self._pump.cancel()
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.inner.aclose(), loop))
        finally:
            self._loop = None
            loop.call_soon_threadsafe(loop.stop)
            await asyncio.to_thread(thread.join, 2 * STOP_S)
