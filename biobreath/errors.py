"""User-facing errors: each carries one line that the CLI prints as it is."""


class BiobreathError(Exception):
    """A problem the user can act on; its message is one line, shown without a traceback."""


class ProtocolError(BiobreathError):
    """A breathing protocol is unknown or its file is malformed."""


class SessionFileError(BiobreathError):
    """A session or RR file is missing, unreadable, truncated or not ours."""


class RecordingError(BiobreathError):
    """A recording cannot be created where it was asked for."""


class NoBluetoothError(BiobreathError):
    """Bluetooth is not available on this computer."""
