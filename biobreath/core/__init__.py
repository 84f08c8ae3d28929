"""The science: pure functions and small stateful stream objects on NumPy arrays.

HRV (``hrv``), artifacts (``artifacts``), the tachogram spectrum (``spectrum``), coherence
(``coherence``), resonance criteria (``resonance``), breathing from the accelerometer
(``respiration``), ECG R-peaks (``ecg``), beat timing from RR chains (``timing``), protocols as
data (``protocol``) and the pacer (``pacer``), and the live core that runs them beat by beat
(``live``).

May import: NumPy, SciPy, each other, and the shared data types (``biobreath.events``,
``biobreath.clock``, ``biobreath.errors``). Never asyncio, sqlite3, Qt, pyqtgraph, bleak, bumble,
matplotlib, or any other part of biobreath: no I/O happens here, so live, replayed and offline
use compute the same numbers.
"""
