"""The package's layers keep their import rules (read from the source with ``ast``, not imported),
so a newcomer can trust what each folder's docstring says it may use."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "biobreath"
SHARED = {"biobreath.events", "biobreath.clock", "biobreath.errors"}
# Third-party and standard-library modules that would bring I/O, a UI or a radio into the science.
NOT_IN_CORE = {"asyncio", "sqlite3", "PySide6", "pyqtgraph", "qasync", "bleak", "bumble",
               "matplotlib", "socket", "threading"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (function-level imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


MODULES = _modules()


def _in(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _ours(imports: set[str]) -> set[str]:
    """The biobreath modules among ``imports`` (``from biobreath.x import y`` names both)."""
    return {i for i in imports if _in(i, "biobreath") and i != "biobreath"}


def test_the_layout_is_what_the_readme_describes():
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert {"core", "sim", "straps", "sources", "files", "session", "offline", "ui"} <= folders


@pytest.mark.parametrize("folder", sorted(p.name for p in PACKAGE.iterdir()
                                          if (p / "__init__.py").exists()))
def test_every_folder_says_what_lives_there_and_what_it_may_import(folder):
    doc = ast.get_docstring(ast.parse((PACKAGE / folder / "__init__.py").read_text()))
    assert doc and "import" in doc, f"biobreath/{folder}/__init__.py needs a docstring"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _in(n, "biobreath.core")))
def test_core_is_pure(name):
    imports = _imports(MODULES[name])
    foreign = {i for i in _ours(imports)
               if not _in(i, "biobreath.core") and not any(_in(i, s) for s in SHARED)}
    assert not foreign, f"{name} imports {sorted(foreign)}"
    heavy = {i for i in imports if i.split(".")[0] in NOT_IN_CORE}
    assert not heavy, f"{name} imports {sorted(heavy)}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not _in(n, "biobreath.sim")))
def test_only_the_wiring_reaches_the_stand_ins(name):
    uses_sim = {i for i in _imports(MODULES[name]) if _in(i, "biobreath.sim")}
    if name == "biobreath.sources.factory":
        return
    assert not uses_sim, f"{name} imports {sorted(uses_sim)}"


@pytest.mark.parametrize("layer,forbidden", [
    ("biobreath.files", ("biobreath.session", "biobreath.straps", "biobreath.ui",
                         "biobreath.sources", "biobreath.offline")),
    ("biobreath.session", ("biobreath.ui", "biobreath.straps", "PySide6", "pyqtgraph")),
    ("biobreath.straps", ("biobreath.session", "biobreath.ui", "biobreath.offline")),
    ("biobreath.offline", ("biobreath.session", "biobreath.ui", "biobreath.straps",
                           "PySide6", "pyqtgraph")),
])
def test_layers_keep_to_their_imports(layer, forbidden):
    for name in (n for n in MODULES if _in(n, layer)):
        bad = {i for i in _imports(MODULES[name]) if any(_in(i, f) for f in forbidden)}
        assert not bad, f"{name} imports {sorted(bad)}"


def test_the_gatt_formats_keep_their_public_name():
    from biobreath.gatt import parse_heart_rate_measurement, parse_pmd_frame
    from biobreath.straps import gatt

    assert parse_heart_rate_measurement is gatt.parse_heart_rate_measurement
    assert parse_pmd_frame is gatt.parse_pmd_frame
    # A payload from the Heart Rate Service specification: flags 0x10 (RR present), 60 bpm,
    # one RR of 1024 ticks (1 s).
    m = parse_heart_rate_measurement(bytes([0x10, 60, 0x00, 0x04]))
    assert (m.heart_rate_bpm, tuple(m.rr_ticks)) == (60, (1024,))


def test_the_research_api_is_reachable_from_the_top():
    import biobreath

    assert biobreath.hrv.time_domain([800.0, 810.0, 790.0, 805.0]).rmssd_ms == pytest.approx(
        ((10.0 ** 2 + 20.0 ** 2 + 15.0 ** 2) / 3) ** 0.5)
    assert callable(biobreath.read_rr) and callable(biobreath.artifacts.correct)
    with pytest.raises(AttributeError):
        biobreath.no_such_thing  # noqa: B018


def test_the_command_line_loads_no_science_until_a_command_runs():
    """``biobreath --help`` stays instant: the commands' modules load NumPy, SciPy, Qt and
    bleak inside ``run``, not when the parser is built."""
    import subprocess
    import sys

    heavy = ("numpy", "scipy", "PySide6", "pyqtgraph", "bleak", "sqlite3")
    code = ("import sys, biobreath.cli; biobreath.cli.build_parser(); "
            f"print([m for m in {heavy!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
