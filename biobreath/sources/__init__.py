"""Beat sources: one interface, several implementations (simulated, Bluetooth, virtual, replay).

Like bleak's one client over per-platform backends, every source yields the same typed events
(:mod:`biobreath.events`) on the session's clock, so the session, the live core, the recorder
and the window never know which kind of strap is behind them.
"""

from biobreath.sources.base import BeatSource

__all__ = ["BeatSource"]
