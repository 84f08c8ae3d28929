"""Where the data files that ship with biobreath (protocols, device profiles) are found, and how
one is decoded."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from biobreath.errors import BiobreathError

MAX_TOML_BYTES = 64 * 1024
"""A protocol or device profile is a few hundred bytes; refuse anything far larger unread."""
MAX_TOML_LINE = 1000
"""Characters per line. tomllib's cost grows with the square of a dotted key's depth (a 20 kB
``a.a.a…`` key takes seconds and hundreds of MB), and a TOML key cannot span lines: this bounds
it."""


def data_dirs(kind: str) -> list[Path]:
    """Folders holding ``kind`` ("protocols" or "devices"): the installed package data first
    (``biobreath/_data/<kind>`` in the wheel), then the source tree's top-level ``<kind>/``."""
    dirs = []
    packaged = resources.files("biobreath") / "_data" / kind
    if packaged.is_dir():
        dirs.append(Path(str(packaged)))
    repo = Path(__file__).resolve().parents[2] / kind
    if repo.is_dir():
        dirs.append(repo)
    return dirs


def read_toml(path: Path, what: str, error: type[BiobreathError]) -> dict:
    """Decode one TOML data file; any failure raises ``error`` with a line naming the file."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_TOML_BYTES + 1)
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except OSError as e:
        raise error(f"cannot read {what} {path}: {e.strerror or e}") from None
    except ValueError as e:  # a path with a NUL byte
        raise error(f"cannot read {what} {str(path)!r}: {e}") from None
    if len(data) > MAX_TOML_BYTES:
        raise error(f"{path}: too large for a {what} (more than {MAX_TOML_BYTES >> 10} kB)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise error(f"{path}: not a {what} (not UTF-8 text)") from None
    long = next((i for i, line in enumerate(text.split("\n"), 1)
                 if len(line) > MAX_TOML_LINE), None)
    if long is not None:
        raise error(f"{path}: line {long} is longer than {MAX_TOML_LINE} characters; not a "
                    f"{what}")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise error(f"{path}: not valid TOML ({e})") from None
    except RecursionError:
        raise error(f"{path}: not valid TOML (arrays or tables nested too deeply)") from None
