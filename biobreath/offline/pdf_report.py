"""The session report: two A4 pages for a client's file or a paper (``biobreath report``).

Page 1, in plain words: who, when, the protocol; the heartbeat intervals with the pacer's breaths
and the markers; heart rate over the breathing curve for one minute; coherence over time with its
levels. Page 2, for the researcher: the spectrum with its bands and the coherence peak window, the
metrics with every method parameter, the resonance criteria of paced steps, and the check-ins
and markers (their notes whole) when the session has them. Figures are ``biobreath analyze``'s
(offline: artifacts corrected with the whole recording in view). Drawn with matplotlib's Agg
backend (no display needed); every text is drawn as written (no mathematics).
"""

from __future__ import annotations

import json
import math
import textwrap
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from biobreath.core.coherence import (
    CoherenceParams,
    coherence,
    coherence_scores,
    score_level,
    tachogram_psd,
)
from biobreath.core.pacer import Pacer
from biobreath.errors import BiobreathError
from biobreath.files.people import Checkin
from biobreath.files.readers import read_rr_all, select_recording
from biobreath.files.recording import SessionData, marker_note, one_line, read_session
from biobreath.offline.analysis import FileAnalysis, analyze_recording
from biobreath.offline.report import BAND_COLOURS, missing_glyphs_as_boxes

A4_IN = (8.27, 11.69)
VIEW_S = 60.0  # the "heart rate over breathing" close-up (s)
LEVELS = (("low", 0.0, 33.0, "#fde0dd"), ("medium", 33.0, 64.0, "#fff7bc"),
          ("high", 64.0, 100.0, "#d9f0d3"))
"""Coherence levels (score bounds, HeartMath's level-1 ratios 0.5 and 1.8) and their shading."""
HR_COLOUR, PACER_COLOUR, MARK_COLOUR = "#c0392b", "#2b8cbe", "#6a3d9a"
MARK_LABEL_CHARS = 28  # a marker's text beside its line; page two lists it whole
MARK_LINES = 8         # lines page two gives its list of markers (the rest are counted)


@dataclass(frozen=True, slots=True)
class ReportData:
    """What the report shows of one person's session."""

    analysis: FileAnalysis
    session: SessionData
    pacer: Pacer | None
    markers: tuple[tuple[float, str], ...]  # (s, text)
    scores_t: np.ndarray                    # coherence window end times (s)
    scores: np.ndarray                      # coherence scores 0-100 (NaN: too few beats)
    view_start_s: float                     # start (s) of the one-minute close-up
    view_why: str                           # how the close-up was chosen, in words


def load_report(path: str | Path, *, at_s: float | None = None, device: str | None = None,
                person: str | None = None) -> ReportData:
    """Read and analyse a session for the report; ``at_s``: start (s) of the one-minute
    close-up (default: the minute ending with the most coherent 64 s window)."""
    rec = select_recording(read_rr_all(path, "session"), path, device=device, person=person)
    a = analyze_recording(rec)
    data = read_session(path)
    markers = tuple((float(t), marker_note(v)) for t, _, kind, v in data.events
                    if kind == "marker")
    params = a.coherence_params
    ends, scores = coherence_scores(a.nn_time_s, a.nn_ms, params)
    end_s = float(a.nn_time_s[-1]) if a.nn_time_s.size else 0.0
    if at_s is not None:
        if not 0.0 <= at_s < end_s:
            raise BiobreathError(f"--at {at_s:g} is outside the session's beats (0 to "
                                 f"{end_s:.0f} s)")
        start, why = at_s, "chosen"
    elif np.isfinite(scores).any():
        start, why = float(ends[np.nanargmax(scores)]) - VIEW_S, "the most coherent minute"
    else:
        start, why = end_s - VIEW_S, "the last minute"

    pacer = Pacer(rec.protocol) if rec.protocol is not None else None
    return ReportData(a, data, pacer, markers, ends, scores, max(0.0, start), why)


def write_pdf_report(report: ReportData, out: str | Path) -> Path:
    """Write the report to ``out``, a new file (an existing one is refused, never replaced)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    out = Path(out)
    try:
        f = open(out, "xb")  # noqa: SIM115 - closed below, removed if the report fails
    except FileExistsError:
        raise BiobreathError(f"{out} exists; choose another name with --pdf") from None
    except OSError as e:
        raise BiobreathError(f"cannot write {out}: {e.strerror or e}") from None
    try:
        # Every text is drawn as written: a note's "$...$" is not mathematics.
        with f, PdfPages(f, metadata=_pdf_metadata(report)) as pdf, matplotlib.rc_context(
                {"text.parse_math": False}), missing_glyphs_as_boxes():
            for page in (_page_one, _page_two):
                fig = plt.figure(figsize=A4_IN)
                try:
                    page(fig, report)
                    pdf.savefig(fig)
                finally:
                    plt.close(fig)
    except BaseException as e:
        out.unlink(missing_ok=True)  # never leave half a report
        if isinstance(e, OSError):
            raise BiobreathError(f"cannot write {out}: {e.strerror or e}") from None
        raise
    return out


# -- wording ---------------------------------------------------------------------------------

def _who(r: ReportData) -> str:
    a = r.analysis
    return a.person or (a.device.name if a.device else "") or "not recorded"


def _started(r: ReportData) -> str:
    created = r.session.meta.get("created_utc")
    try:
        when = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
    except ValueError:
        return "not recorded"
    return when.astimezone().strftime("%A %d %B %Y, %H:%M")


def _protocol(r: ReportData) -> str:
    meta = r.session.meta.get("protocol")
    name = meta.get("name") if isinstance(meta, dict) else None
    if r.pacer is None:
        return str(name or "free breathing")
    steps = r.pacer.protocol.steps
    rates = sorted({s.shape.rate_bpm for s in steps if s.shape is not None})
    paced = ", ".join(f"{x:g}" for x in rates)
    return f"{name or 'recorded'} ({len(steps)} step{'s' * (len(steps) > 1)}" + \
        (f"; paced at {paced} breaths/min)" if rates else "; free breathing)")


def _minutes(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s:02d} s"


def _checkins(r: ReportData) -> list[str]:
    lines = []
    for key, when in (("checkin_before", "Before"), ("checkin_after", "After")):
        c = Checkin.from_meta(r.session.meta.get(key))
        if c is not None:
            rating = f"{c.suds} of 10" if c.suds is not None else "no rating"
            lines.append(f"{when} the session: {rating}" + (f", \u201c{c.note}\u201d"
                                                            if c.note else ""))
    return lines


def _plain_summary(r: ReportData) -> str:
    a = r.analysis
    t = a.hrv.time
    parts = []
    if math.isfinite(a.coherence_mean):
        parts.append(f"Coherence averaged {a.coherence_mean:.0f} out of 100 "
                     f"({score_level(a.coherence_mean)}).")
    if math.isfinite(t.mean_hr_bpm):
        parts.append(f"Heart rate averaged {t.mean_hr_bpm:.0f} beats a minute "
                     f"(from {t.min_hr_bpm:.0f} to {t.max_hr_bpm:.0f}).")
    swing = _swing(r)
    if math.isfinite(swing):
        parts.append(f"With each paced breath it rose and fell by {swing:.1f} beats a minute "
                     "on average.")
    return " ".join(parts)


def _swing(r: ReportData) -> float:
    """Mean peak-to-trough heart rate (bpm) per paced breath of the corrected series."""
    if r.pacer is None:
        return math.nan
    a = r.analysis
    t, hr = a.nn_time_s, 60000.0 / a.nn_ms
    swings, n = [], 0
    while (t1 := r.pacer.breath_start(n + 1)) <= t[-1]:
        t0 = r.pacer.breath_start(n)
        m = (t >= t0) & (t < t1)
        if r.pacer.segment(t0).shape is not None and m.sum() >= 3:
            swings.append(float(hr[m].max() - hr[m].min()))
        n += 1
    return float(np.mean(swings)) if swings else math.nan


def _pdf_metadata(r: ReportData) -> dict[str, str]:
    return {"Title": f"biobreath session report: {_who(r)}",
            "Subject": f"{r.analysis.path.name}, {_started(r)}",
            "Creator": "biobreath"}


# -- page one: for the client ----------------------------------------------------------------

def _page_one(fig, r: ReportData) -> None:
    a = r.analysis
    fig.text(0.07, 0.955, "Breathing session report", fontsize=18, weight="bold")
    info = [("Person", _who(r)), ("Started", _started(r)),
            ("Strap", a.device.name if a.device else "not recorded"),
            ("Protocol", _protocol(r)), ("Duration", _minutes(r.session.duration_s))]
    for k, (key, value) in enumerate(info):
        y = 0.925 - k * 0.017
        fig.text(0.07, y, key, fontsize=9.5, color="#555555")
        fig.text(0.2, y, value, fontsize=9.5)
    fig.text(0.07, 0.835, "\n".join(textwrap.wrap(_plain_summary(r), 92)), fontsize=10,
             va="top", linespacing=1.4)
    grid = fig.add_gridspec(3, 1, left=0.1, right=0.9, top=0.735, bottom=0.06, hspace=0.55)
    _tachogram(fig.add_subplot(grid[0]), r)
    _close_up(fig.add_subplot(grid[1]), r)
    _coherence_over_time(fig.add_subplot(grid[2]), r)


def _label(text: str) -> str:
    """A marker's text as drawn beside its line: one line, at most ``MARK_LABEL_CHARS``."""
    line = one_line(text) or "mark"
    return line if len(line) <= MARK_LABEL_CHARS else line[:MARK_LABEL_CHARS - 1] + "…"


def _marks(ax, r: ReportData, *, labels: bool) -> None:
    for k, (t, text) in enumerate(r.markers):
        ax.axvline(t / 60.0, color=MARK_COLOUR, lw=0.9, ls="--")
        if labels:  # clipped: a text near the end stops at the plot's edge, not the page's
            ax.text(t / 60.0, 1.0 - 0.1 * (k % 3), f" {_label(text)}", color=MARK_COLOUR,
                    fontsize=7.5, va="top", transform=ax.get_xaxis_transform(), clip_on=True)


def _tachogram(ax, r: ReportData) -> None:
    a = r.analysis
    ax.plot(a.raw_time_s / 60.0, a.raw_rr_ms, color="#bbbbbb", lw=0.7, label="as recorded")
    ax.plot(a.nn_time_s / 60.0, a.nn_ms, color="#08519c", lw=0.9, label="corrected")
    if r.pacer is not None:  # the pacer's breaths as ticks along the bottom
        starts = []
        n = 0
        while (t0 := r.pacer.breath_start(n)) < a.raw_time_s[-1]:
            if r.pacer.segment(t0).shape is not None:
                starts.append(t0)
            n += 1
        if starts:
            ax.plot(np.array(starts) / 60.0, np.zeros(len(starts)), "|", color=PACER_COLOUR,
                    ms=7, transform=ax.get_xaxis_transform(), clip_on=False,
                    label="pacer breaths")
    _marks(ax, r, labels=True)
    v0 = r.view_start_s / 60.0
    ax.axvspan(v0, v0 + VIEW_S / 60.0, color="#fdae6b", alpha=0.25, lw=0, label="close-up below")
    ax.set(xlabel="time (min)", ylabel="beat interval (ms)", xlim=(0, a.raw_time_s[-1] / 60.0))
    ax.set_title("Heartbeat intervals: a longer interval is a slower heart", loc="left",
                 fontsize=10, pad=16)
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=7, frameon=False, ncols=4,
              borderaxespad=0.2)


def _close_up(ax, r: ReportData) -> None:
    a = r.analysis
    t0, t1 = r.view_start_s, r.view_start_s + VIEW_S
    m = (a.nn_time_s >= t0 - 2) & (a.nn_time_s <= t1 + 2)
    ax.plot(a.nn_time_s[m] - t0, 60000.0 / a.nn_ms[m], color=HR_COLOUR, lw=1.6, marker="o",
            ms=2.5, label="heart rate")
    ax.set(xlim=(0, VIEW_S), xlabel=f"seconds from {_minutes(t0)}", ylabel="heart rate (bpm)")
    ax.yaxis.label.set_color(HR_COLOUR)
    grid = np.arange(t0, min(t1, r.session.duration_s), 0.1)  # the pacer as far as it ran
    volume = r.pacer.volume(grid) if r.pacer is not None else np.full(grid.shape, np.nan)
    paced = bool(np.isfinite(volume).any())
    if paced:
        breath = ax.twinx()
        breath.fill_between(grid - t0, volume, color=PACER_COLOUR, alpha=0.18, lw=0)
        breath.plot(grid - t0, volume, color=PACER_COLOUR, lw=1.0)
        breath.set_ylim(0, 2.2)  # the breathing curve in the lower half, under the heart rate
        breath.set_yticks([0, 1], ["out", "in"])
        breath.set_ylabel("pacer breathing", color=PACER_COLOUR)
        ax.set_zorder(breath.get_zorder() + 1)
        ax.patch.set_visible(False)
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo - (hi - lo) * 0.9, hi)  # heart rate in the upper half
    score = coherence(a.nn_time_s, a.nn_ms, t1, a.coherence_params).score
    what = "Heart rate over the breathing pacer" if paced else "Heart rate (free breathing)"
    why = r.view_why + (f"; coherence {score:.0f}" if math.isfinite(score) else "")
    ax.set_title(f"{what}, one minute ({why})", loc="left", fontsize=10)
    _marks_in_view(ax, r, t0, t1)


def _marks_in_view(ax, r: ReportData, t0: float, t1: float) -> None:
    for t, text in r.markers:
        if t0 <= t <= t1:
            ax.axvline(t - t0, color=MARK_COLOUR, lw=0.9, ls="--")
            ax.text(t - t0, 0.98, f" {_label(text)}", color=MARK_COLOUR, fontsize=7.5,
                    va="top", transform=ax.get_xaxis_transform(), clip_on=True)


def _coherence_over_time(ax, r: ReportData) -> None:
    for name, lo, hi, colour in LEVELS:
        ax.axhspan(lo, hi, color=colour, lw=0)
        ax.text(1.005, (lo + hi) / 200.0, name, transform=ax.transAxes, fontsize=8,
                va="center", color="#555555")
    ax.plot(r.scores_t / 60.0, r.scores, color="#238b45", lw=1.6)
    _marks(ax, r, labels=False)
    p = r.analysis.coherence_params
    if not np.isfinite(r.scores).any():
        ax.text(0.5, 0.5, f"Too short for a coherence score ({p.window_s:g} s of beats needed)",
                transform=ax.transAxes, ha="center", va="center", fontsize=10)
    end = r.analysis.raw_time_s[-1] / 60.0
    ax.set(xlim=(0, end), ylim=(0, 100), xlabel="time (min)", ylabel="coherence (0-100)")
    ax.set_title(f"Coherence: how regular the heart-rate wave is (each point: the last "
                 f"{p.window_s:g} s, every {p.step_s:g} s)", loc="left", fontsize=10)


# -- page two: for the researcher ------------------------------------------------------------

def _page_two(fig, r: ReportData) -> None:
    a = r.analysis
    fig.text(0.07, 0.962, f"Analysis: {a.path.name}", fontsize=13, weight="bold")
    fig.text(0.07, 0.945, f"{a.n_beats} beats, {a.artifact_pct:.1f} % artifacts ("
             f"{'detected and corrected, Lipponen & Tarvainen 2019' if a.artifact_mode == 'auto' else 'none corrected'}"  # noqa: E501
             "); figures as biobreath analyze gives them", fontsize=8.5, color="#555555")
    grid = fig.add_gridspec(1, 2, left=0.11, right=0.95, top=0.91, bottom=0.7, wspace=0.35)
    _spectrum(fig.add_subplot(grid[0]), a)
    _coherence_spectrum(fig.add_subplot(grid[1]), r)
    y = _metrics_table(fig, a, 0.64)
    if a.resonance is not None:
        y = _resonance_table(fig, a, y - 0.02)
    checkins = _checkins(r)
    if checkins:
        fig.text(0.07, y - 0.02, "Check-ins (how the person felt, 0 calm to 10 most distressed)",
                 fontsize=11, weight="bold")
        for k, line in enumerate(checkins):
            fig.text(0.09, y - 0.038 - 0.015 * k, line, fontsize=8.5)
        y -= 0.04 + 0.015 * len(checkins)
    marks = _marker_lines(r)
    if marks:
        fig.text(0.07, y - 0.02, "Markers", fontsize=11, weight="bold")
        fig.text(0.09, y - 0.035, "\n".join(marks), fontsize=8, va="top", linespacing=1.4)
        y -= 0.04 + 0.0135 * len(marks)
    notes = [line for note in a.notes for line in textwrap.wrap(note, 110)]
    if notes:
        fig.text(0.07, y - 0.02, "Notes", fontsize=11, weight="bold")
        fig.text(0.09, y - 0.035, "\n".join(notes), fontsize=8, va="top", linespacing=1.4)
        y -= 0.04 + 0.0135 * len(notes)
    _parameters(fig, a, y - 0.02)


def _marker_lines(r: ReportData) -> list[str]:
    """The markers with their times (m:ss), each note on up to two lines, as many as
    ``MARK_LINES`` hold; then how many more there are."""
    lines: list[str] = []
    shown = 0
    for t, text in r.markers:
        clock = f"{int(t // 60)}:{int(t % 60):02d}"
        wrapped = textwrap.wrap(f"{clock}  {one_line(text) or 'mark'}", 110,
                                subsequent_indent=" " * (len(clock) + 2), max_lines=2,
                                placeholder=" …")
        # A line is kept back for the count when markers would be left out after this one.
        if len(lines) + len(wrapped) > MARK_LINES - (shown + 1 < len(r.markers)):
            break
        lines += wrapped
        shown += 1
    if shown < len(r.markers):
        lines.append(f"and {len(r.markers) - shown} more (biobreath export --to csv lists "
                     "them all)")
    return lines


def _spectrum(ax, a: FileAnalysis) -> None:
    f = a.hrv.frequency
    fp = f.parameters
    if f.freq_hz.size:
        m = f.freq_hz <= 0.5
        for name, (lo, hi) in (("VLF", fp.vlf), ("LF", fp.lf), ("HF", fp.hf)):
            ax.axvspan(lo, hi, color=BAND_COLOURS[name], alpha=0.6, lw=0)
            ax.text((lo + hi) / 2, 0.97, name, transform=ax.get_xaxis_transform(),
                    ha="center", va="top", fontsize=8)
        ax.plot(f.freq_hz[m], f.psd_ms2_hz[m], color="black", lw=1.0)
    ax.set(xlim=(0, 0.5), xlabel="frequency (Hz)", ylabel="PSD (ms²/Hz)")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
    ax.set_title(f"Whole session, {fp.method.capitalize()} spectrum", loc="left",
                 fontsize=9.5, pad=14)


def _coherence_spectrum(ax, r: ReportData) -> None:
    a = r.analysis
    p: CoherenceParams = a.coherence_params
    end = r.view_start_s + VIEW_S
    freq, psd = tachogram_psd(a.nn_time_s, a.nn_ms, end - p.window_s, end, p)
    res = coherence(a.nn_time_s, a.nn_ms, end, p)
    m = freq <= 0.5
    for name, (lo, hi) in (("VLF", (0.0, p.lf_band_hz[0])), ("LF", p.lf_band_hz),
                           ("HF", (p.lf_band_hz[1], 0.4))):
        ax.axvspan(lo, hi, color=BAND_COLOURS[name], alpha=0.6, lw=0)
    if math.isfinite(res.peak_hz):
        half = p.peak_width_hz / 2
        ax.axvspan(res.peak_hz - half, res.peak_hz + half, color="#238b45", alpha=0.35, lw=0,
                   label=f"peak {res.peak_hz:.3f} Hz ± {half:g}")
        ax.legend(fontsize=7, frameon=False, loc="upper right")
    ax.plot(freq[m], psd[m], color="black", lw=1.0)
    ax.set(xlim=(0, 0.5), xlabel="frequency (Hz)", ylabel="PSD (ms²/Hz)")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
    score = f", score {res.score:.0f}" if math.isfinite(res.score) else ""
    ax.set_title(f"Close-up minute's last {p.window_s:g} s{score}", loc="left", fontsize=9.5,
                 pad=14)


def _fmt(v: float, spec: str) -> str:
    return format(v, spec) if isinstance(v, int | float) and math.isfinite(v) else "n/a"


def _metrics_table(fig, a: FileAnalysis, top: float) -> float:
    t, f, n = a.hrv.time, a.hrv.frequency, a.hrv.nonlinear
    rows = [
        ("Heart rate", f"mean {_fmt(t.mean_hr_bpm, '.1f')}, min {_fmt(t.min_hr_bpm, '.1f')}, "
                       f"max {_fmt(t.max_hr_bpm, '.1f')} bpm; mean RR {_fmt(t.mean_rr_ms, '.1f')}"
                       " ms"),
        ("Time domain", f"SDNN {_fmt(t.sdnn_ms, '.1f')} ms, RMSSD {_fmt(t.rmssd_ms, '.1f')} ms, "
                        f"SDSD {_fmt(t.sdsd_ms, '.1f')} ms, pNN50 {_fmt(t.pnn50_pct, '.1f')} %, "
                        f"HRV triangular index {_fmt(t.hrv_triangular_index, '.2f')}"),
        ("Frequency", f"VLF {_fmt(f.vlf_ms2, '.0f')}, LF {_fmt(f.lf_ms2, '.0f')}, HF "
                      f"{_fmt(f.hf_ms2, '.0f')} ms² (LF {_fmt(f.lf_nu, '.1f')}, HF "
                      f"{_fmt(f.hf_nu, '.1f')} n.u.); LF/HF {_fmt(f.lf_hf, '.2f')}"),
        ("Peaks", f"VLF {_fmt(f.vlf_peak_hz, '.3f')}, LF {_fmt(f.lf_peak_hz, '.3f')}, HF "
                  f"{_fmt(f.hf_peak_hz, '.3f')} Hz"),
        ("Nonlinear", f"SD1 {_fmt(n.sd1_ms, '.1f')}, SD2 {_fmt(n.sd2_ms, '.1f')} ms, SD2/SD1 "
                      f"{_fmt(n.sd2_sd1, '.2f')}; DFA α1 {_fmt(n.dfa_alpha1, '.2f')}, α2 "
                      f"{_fmt(n.dfa_alpha2, '.2f')}; SampEn {_fmt(n.sampen, '.2f')}"),
        ("Coherence", f"mean score {_fmt(a.coherence_mean, '.0f')} of 100 (corrected series)"),
    ]
    fig.text(0.07, top, "Metrics", fontsize=11, weight="bold")
    for k, (name, value) in enumerate(rows):
        y = top - 0.022 - 0.0165 * k
        fig.text(0.09, y, name, fontsize=8.5, color="#555555")
        fig.text(0.24, y, value, fontsize=8.5)
    return top - 0.022 - 0.0165 * len(rows)


def _resonance_table(fig, a: FileAnalysis, top: float) -> float:
    res = a.resonance
    fig.text(0.07, top, f"Resonance criteria per paced step (Shaffer & Meehan 2020): best rate "
             f"{res.best_rate_bpm:g} breaths/min", fontsize=11, weight="bold")
    head = ("rate (/min)", "phase (°)", "swing (bpm)", "LF (ms²)", "LF peak (Hz)",
            "smoothness", "LF peaks", "points")
    rows = [(f"{c.rate_bpm:g}", _fmt(c.phase_deg, "+.0f"), _fmt(c.swing_bpm, ".1f"),
             _fmt(c.lf_power_ms2, ".0f"), _fmt(c.lf_peak_hz, ".3f"), _fmt(c.smoothness, ".2f"),
             str(c.lf_peaks), str(p)) for c, p in zip(res.criteria, res.points)]
    if res.fit is not None:
        top -= 0.016
        fig.text(0.09, top, "Best rate: the paced rate nearest the resonance fitted to every "
                 "step's heart-rate amplitude and phase; points: one per criterion won.",
                 fontsize=8, color="#555555")
    xs = np.linspace(0.09, 0.86, len(head))
    for k, row in enumerate((head, *rows)):
        y = top - 0.022 - 0.015 * k
        for x, cell in zip(xs, row):
            fig.text(x, y, cell, fontsize=8.5, color="#555555" if k == 0 else "black")
    return top - 0.022 - 0.015 * (len(rows) + 1)


def _parameters(fig, a: FileAnalysis, top: float) -> None:
    """Every method setting, as ``analyze --json`` names them (its ``parameters``)."""
    fig.text(0.07, top, "Method parameters", fontsize=11, weight="bold")
    lines = []
    for group, values in a.parameters_json().items():
        items = (", ".join(f"{k} {json.dumps(v)}" for k, v in values.items())
                 if isinstance(values, dict) else json.dumps(values))
        lines += textwrap.wrap(f"{group}: {items}", 118, subsequent_indent="    ")
    fig.text(0.09, top - 0.012, "\n".join(lines), fontsize=6.5, va="top", family="monospace",
             linespacing=1.35)
