"""Protocol files: the TOML files in ``protocols/`` (and any path given), found by name and
read into validated :class:`~biobreath.core.protocol.BreathingProtocol` objects."""

from __future__ import annotations

from pathlib import Path

from biobreath.core.protocol import BreathingProtocol, parse_protocol
from biobreath.errors import ProtocolError
from biobreath.files.datafiles import data_dirs, read_toml


def protocol_dirs() -> list[Path]:
    """Where named protocols are looked up: the installed package data, then the source tree."""
    return data_dirs("protocols")


def available_protocols() -> dict[str, Path]:
    """Protocol names (file stems) and their files."""
    found: dict[str, Path] = {}
    for d in reversed(protocol_dirs()):
        for p in sorted(d.glob("*.toml")):
            found[p.stem] = p
    return dict(sorted(found.items()))


def load_protocol(name_or_path: str | Path) -> BreathingProtocol:
    """Load a protocol by name (``coherence``) or from a TOML file path."""
    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith(".toml") or path.is_file()):
        known = available_protocols()
        if text not in known:
            raise ProtocolError(f"unknown protocol {text!r}; available: "
                                f"{', '.join(known) or 'none'} (or give the path of a .toml file)")
        path = known[text]
    raw = read_toml(path, "protocol file", ProtocolError)
    return parse_protocol(raw, str(path), default_name=path.stem)
