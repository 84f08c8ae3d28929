"""biobreath: heart-rate-variability biofeedback breathing trainer.

The package reads as its architecture; each folder's docstring says what lives there and what it
may import:

- :mod:`biobreath.core`: the science, pure functions and small stream objects on NumPy arrays.
- :mod:`biobreath.straps`: real Bluetooth straps through bleak (GATT formats, profiles, scan).
- :mod:`biobreath.sim`: the stand-ins: a simulated person, a strap emulator, a virtual Polar H10.
- :mod:`biobreath.sources`: the beat-source interface, replay, and the wiring of sources.
- :mod:`biobreath.files`: what is read from and written to disk.
- :mod:`biobreath.session`: a running session and the listeners that follow it.
- :mod:`biobreath.offline`: analysis of recordings and RR files.
- :mod:`biobreath.ui`: the window and the terminal view.
- ``events``, ``clock``, ``errors``: the small data types every layer shares.

The research API is also reachable from here (loaded on first use, so the command line stays
quick): ``from biobreath import hrv, artifacts, read_rr``.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "artifacts": ("biobreath.core.artifacts", None),
    "hrv": ("biobreath.core.hrv", None),
    "coherence": ("biobreath.core.coherence", None),
    "resonance": ("biobreath.core.resonance", None),
    "read_rr": ("biobreath.files.readers", "read_rr"),
    "read_rr_all": ("biobreath.files.readers", "read_rr_all"),
    "read_session": ("biobreath.files.recording", "read_session"),
    "analyze_file": ("biobreath.offline.analysis", "analyze_file"),
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'biobreath' has no attribute {name!r}")
    module, attr = _LAZY[name]
    loaded = importlib.import_module(module)
    return loaded if attr is None else getattr(loaded, attr)


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
