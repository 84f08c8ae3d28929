"""Beat sources: one interface (``base``), the replay of a recording (``replay``), and the wiring
that opens the source the command line asks for (``factory``).

Like bleak's one client over per-platform backends, every source yields the same typed events
(:mod:`biobreath.events`) on the session's clock, so the session, the live core, the recorder and
the window never know which kind of strap is behind them. The real Bluetooth strap lives in
:mod:`biobreath.straps`, the simulated and virtual ones in :mod:`biobreath.sim`.

May import: ``biobreath.files`` (replay reads recordings) and the shared data types;
``factory`` alone may import ``biobreath.straps`` and ``biobreath.sim``, inside its functions.
"""

from biobreath.sources.base import BeatSource

__all__ = ["BeatSource"]
