"""What the window remembers between sessions: its size and place, its screen, its theme and
whether the spectrum panel is open.

They are kept with QSettings (organisation and application "biobreath") in an INI file in the
per-user data folder, ``window.ini`` beside ``sessions/`` and ``markers.toml``, so that
``BIOBREATH_DATA_DIR`` (which the tests point at a temporary folder) moves them too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6 import QtCore

from biobreath.files.recording import default_session_dir

ORGANISATION = APPLICATION = "biobreath"


def data_folder() -> Path:
    """The per-user data folder (sessions, marker presets, window settings)."""
    return default_session_dir().parent


def open_settings(path: Path | None = None) -> QtCore.QSettings:
    """The window's settings, in ``path`` (default: ``window.ini`` in the data folder)."""
    s = QtCore.QSettings(str(path or data_folder() / "window.ini"),
                         QtCore.QSettings.Format.IniFormat)
    s.setFallbacksEnabled(False)  # never read the system-wide biobreath settings instead
    return s


@dataclass(frozen=True, slots=True)
class WindowLook:
    """The remembered look: ``theme`` ("dark" or "light"), the window's ``geometry``
    (``QWidget.saveGeometry``), ``screen`` (its name), and whether the spectrum is shown."""

    theme: str = "dark"
    geometry: bytes = b""
    screen: str = ""
    spectrum: bool = False


def load_look(settings: QtCore.QSettings, themes: tuple[str, ...]) -> WindowLook:
    """The look in ``settings``; anything missing or not understood (a theme not in ``themes``)
    is the default."""
    theme = settings.value("theme", "dark")
    geometry = settings.value("geometry", b"")
    screen = settings.value("screen", "")
    spectrum = settings.value("spectrum", False)
    return WindowLook(theme if theme in themes else "dark",
                      bytes(geometry) if isinstance(geometry, (bytes, QtCore.QByteArray)) else b"",
                      screen if isinstance(screen, str) else "",
                      spectrum in (True, "true"))


def save_look(settings: QtCore.QSettings, look: WindowLook) -> None:
    """Remember ``look`` in ``settings``."""
    settings.setValue("theme", look.theme)
    settings.setValue("geometry", QtCore.QByteArray(look.geometry))
    settings.setValue("screen", look.screen)
    settings.setValue("spectrum", look.spectrum)
    settings.sync()
