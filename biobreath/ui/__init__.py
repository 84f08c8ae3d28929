"""What a person sees: the trainer window (``window``, composed of the widgets in ``panels``),
the terminal view (``headless``), the wording both share (``formatting``), and the palette,
fonts and frames every panel uses (``theme``).

May import: Qt (PySide6), pyqtgraph, qasync, ``biobreath.session``, ``biobreath.core`` (for
constants and types), ``biobreath.files`` (protocol choice) and the shared data types. Views only
read what a session publishes.
"""
