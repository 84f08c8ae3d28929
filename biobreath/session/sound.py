"""Playing the pacer's sound: a session listener that writes tone or chime blocks
(:mod:`biobreath.core.tones`) a little ahead of the session clock to an audio output.

Playback goes through `sounddevice <https://python-sounddevice.readthedocs.io>`_ (PortAudio): its
callback stream runs on PortAudio's own thread, so it plays the same under the window's Qt event
loop and in the terminal, where Qt's audio classes would need a Qt event loop (and are not in
PySide6-Essentials). It is imported only when sound is asked for. Without it, or without an
audio device, the player logs one warning line and the session goes on silent.

The blocks are generated on the session's event loop (where the pacer changes), never on the
audio thread; the audio thread only takes finished blocks from a queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import numpy as np

from biobreath.core.tones import SAMPLE_RATE_HZ, SOUND_KINDS, chime_block, tone_block
from biobreath.session.listener import SessionListener

if TYPE_CHECKING:
    from biobreath.events import Event
    from biobreath.session.session import Session

log = logging.getLogger(__name__)

LEAD_S = 0.25
"""How far ahead of the session clock (s) sound is written: enough to ride out a slow frame,
short enough that a pacer change is heard within a quarter of a second."""
TOP_UP_S = 0.05
"""How often (s) the player tops up its lead."""
MAX_BLOCK = SAMPLE_RATE_HZ
"""Most samples generated at once (one second), so a catch-up never makes a huge array."""


class SoundUnavailable(Exception):
    """No way to play sound here (no library, no device); the message is one line."""


class AudioOutput(Protocol):
    def write(self, block: np.ndarray) -> None:
        """Queue mono float32 samples (full scale 1) to play after those already queued."""

    def close(self) -> None: ...


class _PortAudioOutput:
    """A sounddevice callback stream fed from a queue of blocks; silence when it runs dry."""

    def __init__(self, sd, fs_hz: int) -> None:
        self._blocks: deque[np.ndarray] = deque()
        self._lock = threading.Lock()
        self._stream = sd.OutputStream(samplerate=fs_hz, channels=1, dtype="float32",
                                       callback=self._callback)
        self._stream.start()

    def write(self, block: np.ndarray) -> None:
        with self._lock:
            self._blocks.append(np.asarray(block, dtype=np.float32))

    def take(self, n: int) -> np.ndarray:
        """The next ``n`` queued samples, padded with silence."""
        out = np.zeros(n, dtype=np.float32)
        filled = 0
        with self._lock:
            while filled < n and self._blocks:
                block = self._blocks.popleft()
                k = min(n - filled, block.size)
                out[filled:filled + k] = block[:k]
                if k < block.size:
                    self._blocks.appendleft(block[k:])
                filled += k
        return out

    def _callback(self, outdata, frames, _time, _status) -> None:
        outdata[:, 0] = self.take(frames)

    def close(self) -> None:
        self._stream.stop()
        self._stream.close()


def open_sounddevice(fs_hz: int) -> AudioOutput:
    """The default audio output through sounddevice; :class:`SoundUnavailable` if it cannot be
    had."""
    try:
        import sounddevice as sd
    except ImportError:
        raise SoundUnavailable('no sound: sounddevice is not installed (pip install '
                               '"biobreath[sound]")') from None
    except OSError as e:  # the module imports, but PortAudio itself is missing
        raise SoundUnavailable(f"no sound: {e} (on Debian/Ubuntu: apt install libportaudio2)"
                               ) from None
    try:
        return _PortAudioOutput(sd, fs_hz)
    except Exception as e:  # noqa: BLE001 - PortAudio reports no device in several ways
        raise SoundUnavailable(f"no sound: no audio output device ({str(e).splitlines()[0]})"
                               ) from None


class SoundPlayer(SessionListener):
    """Plays ``kind`` (``tone``, ``chime`` or ``off``) at ``volume`` (0-1), both changeable while
    the session runs (the window's controls). ``real_time``: the session clock is the wall clock,
    so sound plays only at speed 1 and skips ahead after a stall rather than lagging the pacer;
    ``False`` lets tests drive it on a virtual clock."""

    def __init__(self, kind: str, volume: float, *,
                 open_output: Callable[[int], AudioOutput] = open_sounddevice,
                 real_time: bool = True) -> None:
        self.kind = kind
        self.volume = volume
        self._check()
        self._open_output = open_output
        self._real_time = real_time
        self._out: AudioOutput | None = None
        self._silent = False  # sound cannot play in this session (said once)
        self._session: Session | None = None
        self._task: asyncio.Task | None = None
        self._next = 0       # index of the next sample to write (sample i sounds at i / fs s)
        self._phase = 0.0    # the tone oscillator's phase there (rad)

    def _check(self) -> None:
        if self.kind not in SOUND_KINDS:
            raise ValueError(f"sound must be one of {', '.join(SOUND_KINDS)}, got {self.kind!r}")
        if not 0.0 <= self.volume <= 1.0:
            raise ValueError(f"volume must be from 0 to 1, got {self.volume!r}")

    def on_start(self, session: Session) -> None:
        self._session = session

    def _output(self) -> AudioOutput | None:
        """The audio output, opened when sound is first wanted; None (after one warning line)
        where sound cannot play."""
        if self._out is None and not self._silent:
            self._silent = True  # whatever happens next, warn at most once
            if self._real_time and self._session.clock.speed != 1.0:
                log.warning("sound plays in real time only (--speed 1); this session is silent")
                return None
            try:
                self._out = self._open_output(SAMPLE_RATE_HZ)
            except SoundUnavailable as e:
                log.warning("%s; the session goes on silent", e)
                return None
            self._silent = False
        return self._out

    async def _keep_ahead(self) -> None:
        while True:
            self._fill()
            await asyncio.sleep(TOP_UP_S)

    def on_event(self, event: Event) -> None:
        self._fill()

    def on_idle(self) -> None:
        self._fill()

    def _fill(self) -> None:
        """Write sound up to :data:`LEAD_S` ahead of the session clock."""
        self._check()  # the window may have changed kind or volume
        now = self._session.clock.now()
        if self.kind == "off" and self._out is None:
            self._next = round(now * SAMPLE_RATE_HZ)  # nothing wanted yet: nothing owed
            return
        if self._output() is None:
            return
        if self._real_time and self._task is None:
            # Sound is wanted: from now on keep it topped up between the session's events too.
            self._task = asyncio.get_running_loop().create_task(self._keep_ahead())
        if self._real_time:
            # After a stall the device has played silence: rejoin the pacer where it is now.
            self._next = max(self._next, round(now * SAMPLE_RATE_HZ))
        end = round((now + LEAD_S) * SAMPLE_RATE_HZ)
        while self._next < end:
            n = min(MAX_BLOCK, end - self._next)
            pacer = self._session.pacer
            if self.kind == "tone":
                block, self._phase = tone_block(pacer, self._next, n, self._phase, self.volume)
            elif self.kind == "chime":
                block = chime_block(pacer, self._next, n, self.volume)
            else:
                block = np.zeros(n)
            self._out.write(block.astype(np.float32))
            self._next += n

    def on_stop(self, t: float) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._out is not None:
            with contextlib.suppress(Exception):  # a device gone at the end changes nothing
                self._out.close()
            self._out = None
