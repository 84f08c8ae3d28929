"""What a person sees: the trainer window (``window``, composed of the widgets in ``panels``),
the terminal view (``headless``), the wording both share (``formatting``), the palette, fonts and
frames every panel uses (``theme``), remembered settings (``settings``), and the window's
overlays and views: check-in, history, assessment, markers, spectrum, help, pacer controls, the
group view and the replay timeline.

May import: Qt (PySide6), pyqtgraph, qasync, ``biobreath.session``, ``biobreath.core`` (for
constants and types), ``biobreath.files`` (protocols, people, recordings to replay),
``biobreath.offline`` (history figures), ``biobreath.sources`` (the interface, for the replay
timeline) and the shared data types. Views only read what a session publishes.
"""
