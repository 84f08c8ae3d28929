"""biobreath: heart-rate-variability biofeedback breathing trainer.

The science lives in pure NumPy/SciPy modules (:mod:`biobreath.gatt`, :mod:`biobreath.timing`,
:mod:`biobreath.artifacts`, :mod:`biobreath.hrv`, :mod:`biobreath.coherence`,
:mod:`biobreath.pacer`, :mod:`biobreath.physiology`); devices, recording and the window are thin
shells around it.
"""

__version__ = "0.1.0"
