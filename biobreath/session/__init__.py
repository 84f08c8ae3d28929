"""A running session and what follows it.

``session`` holds :class:`Session`: one clock, one beat source, the pacer and a live core per
strap; it publishes what happens to its listeners. ``listener`` holds the listener interface and
the small records a session publishes. Listeners that follow a session: ``recorder`` writes it to
its file, ``history`` indexes it in the person's practice, ``sound`` plays the pacer's tones,
``lsl`` streams it to Lab Streaming Layer. Windows and the terminal view are listeners too.

May import: asyncio, ``biobreath.core``, ``biobreath.files``, ``biobreath.offline`` (a finished
session's figures, for the history), ``biobreath.sources`` (the interface only), the shared data
types, and inside functions the optional output libraries (pylsl, sounddevice). Never Qt or a
concrete source.
"""

from biobreath.session.listener import BreathReport, SessionListener, SessionSummary, StrapStatus
from biobreath.session.session import Session

__all__ = ["BreathReport", "Session", "SessionListener", "SessionSummary", "StrapStatus"]
