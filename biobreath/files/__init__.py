"""What biobreath reads from and writes to disk: session recordings in SQLite (``recording``),
RR files and recordings read as beat series (``readers``), the data folders that ship with it
(``datafiles``) and breathing-protocol files (``protocols``).

May import: sqlite3 and the standard library, NumPy, ``biobreath.core`` and the shared data types.
Nothing here knows about sessions, straps or windows.
"""
