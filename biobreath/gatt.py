"""The Bluetooth GATT formats, under their long-standing public name.

The code lives in :mod:`biobreath.straps.gatt`; this module keeps
``biobreath.gatt.parse_heart_rate_measurement``, ``parse_pmd_frame`` and the rest importable.
"""

from biobreath.straps.gatt import *  # noqa: F403
from biobreath.straps.gatt import __all__  # noqa: F401
