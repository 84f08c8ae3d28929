"""Real heart-rate straps: GATT formats (``gatt``), device profiles from ``devices/``
(``profiles``), Heart Rate Measurement bytes to beat events (``decoder``), the Bluetooth source
through bleak (``ble``) and scanning (``scan``).

May import: bleak, ``biobreath.core``, ``biobreath.files`` (to read profiles), ``biobreath.sources``
(the source interface) and the shared data types. Never ``biobreath.sim``: a virtual strap is
handed in as a bleak backend.
"""
