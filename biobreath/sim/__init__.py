"""Stand-ins for a person and a strap, for use without hardware.

The physiological model (``physiology``), the strap emulator that turns beats into Heart Rate
Measurement bytes (``emulator``), the simulated beat source (``source``), the virtual Polar H10 on
bumble (``virtual_h10``), the bleak backend on bumble's virtual radio (``bumble_backend``), the
virtual straps as a beat source (``virtual_source``) and the virtual-time event loop
(``virtual_time``).

May import anything in biobreath. Only ``biobreath.sources.factory`` (the command line's wiring),
tests, examples and benchmarks import it: the product never depends on its stand-ins, and a
virtual strap reaches the real Bluetooth code the way a real one does, through a bleak backend.
"""
