"""Where the data files that ship with biobreath (protocols, device profiles) are found."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from biobreath.errors import BiobreathError


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
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"cannot read {what} {path}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise error(f"{path}: not valid TOML ({e})") from None
