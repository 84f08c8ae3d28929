"""The optional libraries some formats need (EDF, WFDB, FIT), imported only when such a file is
read or written, with one line saying what to install when one is missing."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from biobreath.errors import SessionFileError

EXTRA = "research"
"""The extra of the biobreath package that installs every optional format library."""

PACKAGES = {"pyedflib": "pyedflib", "wfdb": "wfdb", "fitdecode": "fitdecode"}
"""Module name -> the package on PyPI that provides it."""


def need(module: str, path: str | Path, what: str) -> ModuleType:
    """Import ``module`` for reading or writing ``what`` (e.g. "EDF") at ``path``, or raise
    :class:`SessionFileError` with one line naming the package to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = PACKAGES.get(module, module)
        raise SessionFileError(
            f"{path}: {what} needs the {package} package: pip install \"biobreath[{EXTRA}]\" "
            f"(or pip install {package})") from None


def brief(e: BaseException, limit: int = 160) -> str:
    """A library's error message on one line, cut to ``limit`` characters."""
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."
