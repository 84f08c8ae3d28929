"""What biobreath reads from and writes to disk.

Session recordings in SQLite (``recording``); beat series read from any supported file
(``readers``, with format detection in ``formats``): RR text and CSV, other tools' RR exports
(``rr_exports``: Kubios, Polar Sensor Logger, HRV Logger, Elite HRV), EDF/EDF+ (``edf``), WFDB
(``wfdb_records``, their notes and markers in ``annotations``), Garmin FIT (``fit``), annotated
beats or ECG turned into RR (``beatseries``); sessions written for other tools (``export``); the
data folders that ship with biobreath (``datafiles``) and breathing-protocol files
(``protocols``); optional libraries loaded on first use with a one-line install hint
(``optional``).

May import: sqlite3 and the standard library, NumPy, ``biobreath.core`` and the shared data types;
pyedflib, wfdb and fitdecode only inside the functions that need them. Nothing here knows about
sessions, straps or windows.
"""
