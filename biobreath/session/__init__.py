"""A running session and what follows it.

``session`` holds :class:`Session`: one clock, one beat source, the pacer and a live core per
strap; it publishes what happens to its listeners. ``listener`` holds the listener interface and
the small records a session publishes. ``recorder`` is the listener that writes the session to its
file. Windows, the terminal view and later outlets are listeners too.

May import: asyncio, ``biobreath.core``, ``biobreath.files``, ``biobreath.sources`` (the
interface only) and the shared data types. Never Qt or a concrete source.
"""

from biobreath.session.listener import BreathReport, SessionListener, SessionSummary, StrapStatus
from biobreath.session.session import Session

__all__ = ["BreathReport", "Session", "SessionListener", "SessionSummary", "StrapStatus"]
