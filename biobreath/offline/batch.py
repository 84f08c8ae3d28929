"""Batch analysis: many files, each analysed on its own, in this process, in worker processes
or on a Dask cluster, with the results given back in the order of the inputs.

The unit of work is :func:`analyze_path`: one path (never the file's bytes) in, one
:class:`FileOutcome` out, holding the JSON objects ``analyze --json`` prints (one per person, or
per window or segment of each person) or the one-line reason the file failed. It is a plain
top-level function of picklable arguments, so :class:`concurrent.futures.ProcessPoolExecutor`
and ``dask.distributed`` run it as they are; a Dask worker reads the file where it runs, so the
paths must name the same files there (a shared folder).

:func:`find_inputs` turns files and folders into the list of files; :func:`csv_columns` and
:func:`flatten` give the one table ``analyze --csv`` writes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from biobreath.errors import BiobreathError
from biobreath.files.readers import RRRecording, read_rr_all
from biobreath.files.wfdb_records import OTHER_FILES
from biobreath.offline.analysis import (
    ArtifactMode,
    FileAnalysis,
    analyze_recording,
    analyze_spans,
    analyze_windows,
    format_report,
)
from biobreath.offline.segments import SegmentKind, segment, session_markers


@dataclass(frozen=True, slots=True)
class BatchOptions:
    """How every file of a batch is analysed (the ``analyze`` options)."""

    format: str | None = None                 # read every file as this format; None: detect
    artifact_mode: ArtifactMode = "auto"
    hrv_options: dict[str, Any] = field(default_factory=dict)  # keywords of core.hrv.analyze
    window_s: float | None = None             # windows of this many seconds ...
    step_s: float | None = None               # ... starting this often (default: window_s)
    segments: SegmentKind | None = None       # or one result per protocol step / marker stretch
    report: bool = False                      # also the human-readable report of each file
    plot: Path | None = None                  # --plot: a figure path, or a folder for them
    plot_one: bool = False                    # the batch is one file: --plot is the figure


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """What one file gave: its rows (JSON objects, as ``analyze --json`` prints them) and, when
    asked for, its report text; or ``error``, one line saying why it failed."""

    path: str
    records: tuple[dict[str, Any], ...] = ()
    reports: tuple[str, ...] = ()
    error: str | None = None


# --------------------------------------------------------------------------- the work


def analyze_path(path: str, options: BatchOptions, display: str | None = None) -> FileOutcome:
    """Analyse the file at ``path`` as ``options`` say; never raises for a bad file.

    ``display`` is the name to report it under when ``path`` was made absolute for a worker
    elsewhere (the name the user gave)."""
    display = path if display is None else display
    try:
        recs = read_rr_all(Path(path), options.format)
        analyses = [_analyze(rec, options) for rec in recs]
        records: list[dict[str, Any]] = []
        reports = []
        markers = (session_markers(Path(path)) if options.segments == "markers"
                   and recs[0].kind == "session" else [])
        for k, (rec, a) in enumerate(zip(recs, analyses)):
            plot = _plot_path(options, Path(path), k, len(recs))
            if plot is not None:
                from biobreath.offline.report import plot_report  # matplotlib: only when asked

                plot_report(a, plot)
            records += _records(a, rec, options,
                                markers if rec.kind == "session" else list(rec.markers))
            if options.report and options.window_s is None and options.segments is None:
                reports.append(format_report(a))
        if len(analyses) > 1 and options.window_s is None and options.segments is None:
            records = _with_synchrony(records, analyses)
    except BiobreathError as e:
        return FileOutcome(display, error=_renamed(str(e), path, display))
    except Exception as e:  # a bug must cost one file of a batch, not the batch
        return FileOutcome(display, error=f"{display}: unexpected {type(e).__name__} ({e}); "
                                          "this is a bug in biobreath, please report it")
    if display != path:
        records = [{**r, "file": _renamed(r["file"], path, display)} for r in records]
        reports = [_renamed(text, path, display) for text in reports]
    return FileOutcome(display, tuple(records), tuple(reports))


def _with_synchrony(records: list[dict[str, Any]], analyses: list[FileAnalysis]
                    ) -> list[dict[str, Any]]:
    """Each person's whole-file object gains the file's ``synchrony`` (every pair of straps)."""
    from biobreath.offline.synchrony import session_synchrony

    sync = session_synchrony(analyses)
    return records if sync is None else [{**r, "synchrony": sync} for r in records]


def _renamed(text: str, path: str, display: str) -> str:
    return text.replace(path, display) if path != display else text


def _analyze(rec: RRRecording, options: BatchOptions) -> FileAnalysis:
    return analyze_recording(rec, artifact_mode=options.artifact_mode,
                             hrv_options=options.hrv_options)


def _plot_path(options: BatchOptions, path: Path, k: int, n_straps: int) -> Path | None:
    """Where this file's (and strap's) figure goes: --plot itself for one file and one strap,
    else with the file's stem (and the strap number) before the suffix."""
    plot = options.plot
    if plot is None:
        return None
    tag = path.stem + (f"-{k + 1}" if n_straps > 1 else "")
    if plot.is_dir():
        out = plot / f"{tag}.png"
    elif options.plot_one and n_straps == 1:
        return plot
    else:
        out = plot.with_name(f"{plot.stem}-{tag}{plot.suffix}")
    if out.exists():
        raise BiobreathError(f"{out} already exists; choose another --plot (files are never "
                             "overwritten)")
    return out


def recording_span(a: FileAnalysis) -> tuple[float, float]:
    """Start and end (s, recording clock) of the analysed beats: from the start of the first
    interval to the last beat."""
    return float(a.nn_time_s[0] - a.nn_ms[0] / 1000.0), float(a.nn_time_s[-1])


def _records(a: FileAnalysis, rec: RRRecording, options: BatchOptions,
             markers: list[tuple[float, str]]) -> list[dict[str, Any]]:
    """The JSON objects of one person's analysis: whole file, windows or segments."""
    start_s, end_s = recording_span(a)
    if options.window_s is None and options.segments is None:
        out = a.as_json()
        return [{"file": out["file"], "kind": a.kind, **a.whose(), "start_s": start_s,
                 "end_s": end_s} | out]
    if options.window_s is not None:
        pieces = analyze_windows(a, options.window_s, options.step_s or options.window_s)
        if not pieces:
            raise BiobreathError(f"{a.path}: shorter than one {options.window_s:g} s window")
    else:
        seg = segment(options.segments, rec.kind, rec.protocol, markers, start_s, end_s,
                      rec.steps)
        pieces = analyze_spans(a, seg.spans, seg.notes)
    params = a.parameters_json()
    return [{"file": str(a.path), "kind": a.kind}
            | p.as_json(a.path, a.device, person=a.person, parameters=params) for p in pieces]


# --------------------------------------------------------------------------- running a batch


Progress = Callable[[FileOutcome], None]


def run_batch(paths: Sequence[str], options: BatchOptions, *, jobs: int = 1,
              dask_address: str | None = None,
              progress: Progress | None = None) -> Iterator[FileOutcome]:
    """Every file's outcome, in the order of ``paths``, as soon as it and all before it are
    done; ``progress`` is called as each file finishes (in any order).

    ``jobs`` > 1 runs that many worker processes; ``dask_address`` runs the files on the Dask
    scheduler there (``dask.distributed``), one task per file."""
    done = progress or (lambda outcome: None)
    if dask_address is not None:
        return _in_order(_on_dask(paths, options, dask_address), done)
    if jobs > 1 and len(paths) > 1:
        return _in_order(_in_processes(paths, options, jobs), done)
    return _in_order(((k, analyze_path(p, options)) for k, p in enumerate(paths)), done)


def _in_order(finished: Iterable[tuple[int, FileOutcome]], progress: Progress
              ) -> Iterator[FileOutcome]:
    """``finished`` (input index, outcome) pairs, in any order, given back in input order."""
    waiting: dict[int, FileOutcome] = {}
    following = 0
    for k, outcome in finished:
        progress(outcome)
        waiting[k] = outcome
        while following in waiting:
            yield waiting.pop(following)
            following += 1


def _failed_worker(path: str, how: str, e: BaseException) -> FileOutcome:
    return FileOutcome(path, error=f"{path}: {how} ({type(e).__name__}: {e})")


def _in_processes(paths: Sequence[str], options: BatchOptions, jobs: int
                  ) -> Iterator[tuple[int, FileOutcome]]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # "spawn": workers start clean on every platform, whatever threads this process has.
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
    try:
        index = {pool.submit(analyze_path, p, options): k for k, p in enumerate(paths)}
        for fut in as_completed(index):
            k = index.pop(fut)
            try:
                yield k, fut.result()
            except Exception as e:  # the worker process died (killed, out of memory)
                yield k, _failed_worker(paths[k], "its worker process failed", e)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _on_dask(paths: Sequence[str], options: BatchOptions, address: str
             ) -> Iterator[tuple[int, FileOutcome]]:
    try:
        from distributed import Client, as_completed
        from distributed.comm import resolve_address
    except ImportError:
        raise BiobreathError("--dask needs dask.distributed: pip install \"dask[distributed]\""
                             ) from None
    try:
        # Checked first: a Client that fails on a malformed address leaves a traceback at exit.
        resolve_address(address)
    except ValueError as e:
        raise BiobreathError(f"{address} is no Dask scheduler address ({e}); give one such as "
                             "tcp://10.0.0.5:8786") from None
    except OSError as e:
        raise BiobreathError(f"cannot reach the Dask scheduler at {address} (its host is "
                             f"unknown: {e.strerror or e})") from None
    try:
        client = Client(address, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as e:
        detail = " ".join(str(e).split()) or type(e).__name__
        raise BiobreathError(f"cannot reach the Dask scheduler at {address} ({detail})") from None
    try:
        # Workers read the files themselves: they get absolute paths (their working folder may
        # differ from ours) and report them under the names given here.
        if options.plot is not None:
            options = replace(options, plot=options.plot.absolute())
        futures = client.map(analyze_path, [os.path.abspath(p) for p in paths],
                             [options] * len(paths), list(paths), pure=False)
        index = {fut.key: k for k, fut in enumerate(futures)}
        for fut in as_completed(futures, loop=client.loop):
            k = index[fut.key]
            try:
                yield k, fut.result()
            except Exception as e:  # the task could not run (worker lost, cannot import)
                yield k, _failed_worker(paths[k], "its Dask task failed", e)
            fut.release()
    finally:
        client.close()


# --------------------------------------------------------------------------- inputs


SKIPPED_FIGURES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".svg", ".pdf", ".md", ".html",
                             ".htm"})
"""Suffixes of figures and documents: what lies beside recordings in a folder, never beats."""
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
_EXPORT_SIDE_FILES = ("breaths", "markers", "ecg", "acc")


@dataclass(frozen=True, slots=True)
class Inputs:
    """The files a batch analyses, and what was passed over in the folders given."""

    files: tuple[str, ...]
    skipped: tuple[tuple[str, int], ...] = ()   # (why, how many files) in folders
    unsearched: int = 0                          # subfolders left out (no --recursive)

    def summary(self) -> str | None:
        """One line on what the folders held besides the files analysed, or None."""
        parts = []
        if self.skipped:
            n = sum(k for _, k in self.skipped)
            parts.append(f"skipped {n} file{'s' * (n != 1)} that are not recordings ("
                         + ", ".join(f"{why}: {k}" for why, k in self.skipped) + ")")
        if self.unsearched:
            parts.append(f"{self.unsearched} subfolder{'s' * (self.unsearched != 1)} not "
                         "searched (add --recursive)")
        return "; ".join(parts) or None


def _skip_reason(path: Path) -> str | None:
    """Why a file found in a folder is clearly no recording, or None to analyse it."""
    name = path.name
    if name.startswith("."):
        return "hidden"
    if name.endswith(_SQLITE_SIDE_FILES):
        return "SQLite journal"
    suffix = path.suffix.lower()
    if suffix in SKIPPED_FIGURES:
        return "figures or documents"
    if suffix and suffix != ".hea" and suffix[1:] not in OTHER_FILES \
            and path.with_suffix(".hea").is_file():
        return "parts of WFDB records (read through their .hea)"
    stem, _, kind = path.name.removesuffix(".csv").rpartition(".")
    if suffix == ".csv" and kind in _EXPORT_SIDE_FILES \
            and path.with_name(f"{stem}.beats.csv").is_file():
        return "side files of CSV exports (read through their .beats.csv)"
    return None


def find_inputs(paths: Iterable[str | Path], recursive: bool = False) -> Inputs:
    """The files to analyse: each path that is not a folder as given (a missing one too, so
    that its analysis says so), and the files in each folder (its whole tree with
    ``recursive``) in name order, less those :func:`_skip_reason` passes over. A folder that
    holds nothing to analyse is one line."""
    files: list[str] = []
    skipped: dict[str, int] = {}
    unsearched = 0
    for given in paths:
        root = Path(given)
        if not root.is_dir():
            files.append(str(given))
            continue
        found: list[Path] = []
        passed_over = 0
        for folder, dirs, names in os.walk(root, onerror=_unreadable):
            dirs.sort()
            hidden = [d for d in dirs if d.startswith(".")]
            if not recursive:
                unsearched += len(dirs) - len(hidden)
                dirs.clear()
            else:
                dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in sorted(names):
                path = Path(folder, name)
                why = _skip_reason(path)
                if why is None:
                    found.append(path)
                else:
                    skipped[why] = skipped.get(why, 0) + 1
                    passed_over += 1
        if not found:
            why = [f"{passed_over} passed over as no recordings"] if passed_over else []
            why += [] if recursive else ["add --recursive for its subfolders"]
            raise BiobreathError(f"{root}: no files to analyse in this folder"
                                 + (f" ({'; '.join(why)})" if why else ""))
        files += [str(p) for p in found]
    return Inputs(tuple(files), tuple(sorted(skipped.items())), unsearched)


def _unreadable(e: OSError) -> None:
    raise BiobreathError(f"{e.filename}: cannot list this folder ({e.strerror or e})")


# --------------------------------------------------------------------------- the table


ID_COLUMNS = ("file", "kind", "device", "address", "person", "segment", "start_s", "end_s",
              "n_beats")
RESONANCE_COLUMNS = ("resonance.best_rate_bpm", "resonance")
NOTE_SEPARATOR = " | "


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    """One CSV row of a JSON object: ``parameters`` as ``parameters.DOMAIN.NAME`` columns, the
    resonance as its best rate (``resonance.best_rate_bpm``) and the whole assessment as JSON
    text (``resonance``), ``notes`` joined by " | ", other lists as JSON text, windows' start
    and end as ``start_s`` and ``end_s``, null as an empty cell."""
    out: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        if isinstance(value, list | tuple | dict):
            out[key] = json.dumps(value, allow_nan=False)
        else:
            out[key] = "" if value is None else value

    for key, value in record.items():
        key = {"window_start_s": "start_s", "window_end_s": "end_s"}.get(key, key)
        if key == "parameters":
            for domain, settings in value.items():
                for name, v in settings.items():
                    put(f"parameters.{domain}.{name}", v)
        elif key == "resonance":
            put("resonance.best_rate_bpm", value["best_rate_bpm"])
            put("resonance", value)
        elif key == "notes":
            out[key] = NOTE_SEPARATOR.join(value)
        else:
            put(key, value)
    return out


def csv_columns(options: BatchOptions) -> tuple[str, ...]:
    """The header of the ``--csv`` table: who and which stretch, then every key of the JSON
    objects flattened (:func:`flatten`), as a reference analysis under ``options`` gives them."""
    rr = np.full(32, 800.0)
    ref = RRRecording(Path("reference"), "text", rr, np.cumsum(rr) / 1000.0,
                      np.zeros(rr.size, bool), "ms")
    keys = list(flatten(_analyze(ref, BatchOptions(hrv_options=options.hrv_options))
                        .as_json()))
    rest = [k for k in keys if k not in ID_COLUMNS and k != "notes"
            and not k.startswith("parameters.")]
    params = [k for k in keys if k.startswith("parameters.")]
    return (*ID_COLUMNS, *rest, *RESONANCE_COLUMNS, "synchrony", "notes", *params)
