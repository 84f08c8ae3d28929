"""Protocol files: the TOML files shipped in ``protocols/``, the user's own in the ``protocols``
folder of the per-user data folder, and any path given; found by name and read into validated
:class:`~biobreath.core.protocol.BreathingProtocol` objects.

A shipped protocol's name always means the shipped file, so a user's file of the same name never
changes what ``--protocol coherence`` does; it is listed, and used by its path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from biobreath.core.protocol import BreathingProtocol, parse_protocol
from biobreath.errors import ProtocolError
from biobreath.files.datafiles import data_dirs, read_toml


def protocol_dirs() -> list[Path]:
    """Where shipped protocols are looked up: the installed package data, then the source tree."""
    return data_dirs("protocols")


def user_protocol_dir() -> Path:
    """The user's own protocols: ``protocols/`` in the per-user data folder (beside
    ``sessions/``; ``BIOBREATH_DATA_DIR`` moves both). It need not exist."""
    from biobreath.files.recording import default_session_dir

    return default_session_dir().parent / "protocols"


def _files(d: Path) -> list[Path]:
    try:
        return sorted(p for p in d.glob("*.toml") if p.is_file())
    except OSError:  # an unreadable folder holds no protocol we can use
        return []


def shipped_protocols() -> dict[str, Path]:
    """Shipped protocol names (file stems) and their files."""
    found: dict[str, Path] = {}
    for d in reversed(protocol_dirs()):
        for p in _files(d):
            found[p.stem] = p
    return dict(sorted(found.items()))


def user_protocols() -> dict[str, Path]:
    """The user's protocol names (file stems) and their files."""
    return {p.stem: p for p in _files(user_protocol_dir())}


def available_protocols() -> dict[str, Path]:
    """Every protocol name and its file: the user's, and the shipped ones (which win a clash)."""
    return dict(sorted({**user_protocols(), **shipped_protocols()}.items()))


def load_protocol(name_or_path: str | Path, *,
                  resonance_bpm: float | None = None) -> BreathingProtocol:
    """Load a protocol by name (``coherence``) or from a TOML file path. Steps with
    ``rate_bpm = "resonance"`` pace at ``resonance_bpm`` (the person's rate, breaths/min); None
    paces them at 6 breaths/min and says in the description that no assessment was done."""
    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith(".toml") or path.is_file()):
        known = available_protocols()
        if text not in known:
            raise ProtocolError(f"unknown protocol {text!r}; available: "
                                f"{', '.join(known) or 'none'} (or give the path of a .toml file)")
        path = known[text]
    raw = read_toml(path, "protocol file", ProtocolError)
    return parse_protocol(raw, str(path), default_name=path.stem, resonance_bpm=resonance_bpm)


@dataclass(frozen=True, slots=True)
class ProtocolEntry:
    """One protocol file as listed: ``origin`` is ``shipped`` or ``yours``; either ``protocol``
    (read and valid) or ``problem`` (one line saying why it cannot be used)."""

    name: str
    path: Path
    origin: str
    protocol: BreathingProtocol | None = None
    problem: str = ""


def list_protocols(*, resonance_bpm: float | None = None) -> list[ProtocolEntry]:
    """Every shipped and user protocol file, shipped first, each read (a broken file is listed
    with its problem, not raised)."""
    shipped = shipped_protocols()
    entries = []
    for origin, files in (("shipped", shipped), ("yours", user_protocols())):
        for name, path in files.items():
            problem = (f"a shipped protocol has this name: use it as --protocol {path}"
                       if origin == "yours" and name in shipped else "")
            try:
                protocol = load_protocol(path, resonance_bpm=resonance_bpm)
            except ProtocolError as e:
                entries.append(ProtocolEntry(name, path, origin, problem=str(e)))
                continue
            entries.append(ProtocolEntry(name, path, origin, protocol, problem))
    return entries
