"""Where the data files that ship with biobreath (protocols, device profiles) are found."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def data_dirs(kind: str) -> list[Path]:
    """Folders holding ``kind`` ("protocols" or "devices"): the installed package data first
    (``biobreath/_data/<kind>`` in the wheel), then the source tree's top-level ``<kind>/``."""
    dirs = []
    packaged = resources.files("biobreath") / "_data" / kind
    if packaged.is_dir():
        dirs.append(Path(str(packaged)))
    repo = Path(__file__).resolve().parent.parent / kind
    if repo.is_dir():
        dirs.append(repo)
    return dirs
