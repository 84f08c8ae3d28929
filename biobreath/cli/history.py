"""``biobreath history``: a person's sessions, minutes per week, streak and resonance rate."""

from __future__ import annotations

import io
import json
import math
import sys
from datetime import timedelta
from pathlib import Path

from biobreath.errors import BiobreathError

MIN_WEEKS = 8  # the --plot shows at least this many weeks of minutes


def add_parser(sub) -> None:
    h = sub.add_parser("history", help="a person's sessions and progress",
                       description="List a person's sessions (date, protocol, minutes, mean "
                                   "coherence, time at each coherence level, heart-rate swing, "
                                   "check-ins), minutes practised per week, the current streak "
                                   "of days and their resonance rate over time. Simulated and "
                                   "virtual-strap sessions are left out unless asked for.")
    h.add_argument("--person", metavar="NAME",
                   help="whose history (default: the last person who practised, else the only "
                        "person known)")
    h.add_argument("--json", action="store_true",
                   help="print one JSON object per session on its own line")
    h.add_argument("--plot", type=Path, metavar="PNG",
                   help="write a figure: coherence per session and minutes per week (an "
                        "existing file is never overwritten)")
    h.add_argument("--include-simulated", action="store_true",
                   help="include sessions with the simulated or the virtual strap")
    h.add_argument("--rebuild", action="store_true",
                   help="index every recording in the sessions folder again first (the files "
                        "are the source of truth; people, rates and preferences are kept)")
    h.set_defaults(run=run)


def run(args) -> int:
    from biobreath.files.people import DEFAULT_PERSON, People, check_name
    from biobreath.offline.progress import person_history, rebuild_index
    from biobreath.ui.formatting import one_line

    if args.plot is not None and args.plot.exists():
        raise BiobreathError(f"{args.plot} already exists; choose another --plot (files are "
                             "never overwritten)")
    with People() as people:
        if args.rebuild:
            n, problems = rebuild_index(people)
            for line in problems:
                print(f"biobreath: left out: {one_line(line)}", file=sys.stderr)
            print(f"biobreath: indexed {n} recording{'' if n == 1 else 's'}", file=sys.stderr)
        everybody = people.names()
        name = check_name(args.person) if args.person is not None else \
            people.last_person() or (everybody[0] if len(everybody) == 1 else DEFAULT_PERSON)
        person = people.get(name)
        if person is None:
            known = ", ".join(one_line(n) for n in everybody) or "nobody yet"
            raise BiobreathError(f"nobody called {one_line(name)!r} has practised here "
                                 f"(known: {known})")
        history = person_history(people, person.name,
                                 include_simulated=args.include_simulated)
        hidden = len(people.sessions(person.name, include_simulated=True)) - \
            len(history.sessions)
    if args.json:
        for e in history.sessions:
            print(json.dumps(session_json(e), ensure_ascii=False))
    else:
        print("\n".join(history_lines(history, hidden=hidden)))
    if args.plot is not None:
        _write_new(args.plot, history_png(history))
        print(f"biobreath: wrote {one_line(str(args.plot))}", file=sys.stderr)
    return 0


def _finite(x: float) -> float | None:
    return round(x, 3) if math.isfinite(x) else None


def session_json(e) -> dict[str, object]:
    """One session as ``--json`` prints it (NaN figures as null)."""
    from biobreath.offline.progress import checkin_change

    notes = [c.note for c in (e.before, e.after) if c is not None and c.note]
    return {"person": e.person, "started_utc": e.started_utc, "file": e.file,
            "protocol": e.protocol, "minutes": round(e.minutes, 3),
            "coherence_mean": _finite(e.coherence_mean), "hr_swing_bpm": _finite(e.hr_swing_bpm),
            "before": e.before.suds if e.before else None,
            "after": e.after.suds if e.after else None, "note": " / ".join(notes),
            "change": checkin_change(e), "low_s": _finite(e.low_s),
            "medium_s": _finite(e.medium_s), "high_s": _finite(e.high_s),
            "mean_hr_bpm": _finite(e.mean_hr_bpm), "complete": e.complete,
            "simulated": e.simulated, "source": e.source_kind, "strap": e.strap,
            "n_beats": e.n_beats, "session_id": e.session_id}


def history_lines(history, *, hidden: int = 0) -> list[str]:
    """The terminal table and the totals under it; ``hidden``: how many simulated sessions were
    left out."""
    from biobreath.offline.progress import checkin_change, local_time
    from biobreath.ui.formatting import num, one_line

    def minutes(s: float) -> str:
        return num(s / 60.0, ".1f")

    def rating(c) -> str:
        return "-" if c is None or c.suds is None else str(c.suds)

    n = len(history.sessions)
    out = [f"{one_line(history.person)}: {n} session{'' if n == 1 else 's'}"
           + (f" ({hidden} with the simulated or virtual strap left out: --include-simulated "
              "shows them)" if hidden else "")]
    if history.sessions:
        out.append(f"{'date':<16}  {'protocol':<20}  {'min':>5}  {'coherence':>9}  "
                   f"{'low/medium/high (min)':>21}  {'swing':>5}  {'before':>6}  {'after':>5}  "
                   f"{'change':>6}  note")
    for e in history.sessions:
        change = checkin_change(e)
        flags = [w for w, on in (("stopped early", not e.complete),
                                 ("simulated", e.simulated)) if on]
        notes = [c.note for c in (e.before, e.after) if c is not None and c.note]
        levels = " / ".join(minutes(s) for s in (e.low_s, e.medium_s, e.high_s))
        out.append(
            f"{local_time(e.started_utc):%Y-%m-%d %H:%M}  {one_line(e.protocol)[:20]:<20}  "
            f"{e.minutes:5.1f}  {num(e.coherence_mean, '9.0f'):>9}  {levels:>21}  "
            f"{num(e.hr_swing_bpm, '5.1f'):>5}  {rating(e.before):>6}  {rating(e.after):>5}  "
            f"{'-' if change is None else f'{change:+d}':>6}  "
            + "; ".join([*flags, *(one_line(n) for n in notes)]))
    out.append("")
    out.append("minutes per week:" + ("" if history.weekly else " none yet"))
    out += [f"  week of {week:%Y-%m-%d}  {mins:6.1f}" for week, mins in history.weekly]
    days = history.streak_days
    out.append(f"current streak: {days} day{'' if days == 1 else 's'}")
    out.append("resonance rate:" + ("" if history.resonance else " not assessed yet"))
    out += [f"  {local_time(utc):%Y-%m-%d %H:%M}  {bpm:g} breaths/min ({one_line(source)})"
            for utc, bpm, source in history.resonance]
    return out


def history_png(history, *, dpi: int = 150) -> bytes:
    """The ``--plot`` figure as PNG bytes: coherence per session (mean, with the level
    thresholds) above minutes practised per week."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from biobreath.core.coherence import LOW_MEDIUM_SCORE, MEDIUM_HIGH_SCORE
    from biobreath.offline.progress import local_time
    from biobreath.offline.report import missing_glyphs_as_boxes

    fig = Figure(figsize=(9, 6.5), layout="constrained")
    top, bottom = fig.subplots(2, 1)
    scored = [e for e in history.sessions if math.isfinite(e.coherence_mean)]
    n = range(1, len(scored) + 1)
    top.plot(n, [e.coherence_mean for e in scored], "-o", color="#0072b2", lw=1.5, ms=6)
    for y, label in ((LOW_MEDIUM_SCORE, "low | medium"), (MEDIUM_HIGH_SCORE, "medium | high")):
        top.axhline(y, color="#999999", lw=0.8, ls="--")
        top.text(0.995, y + 1, label, transform=top.get_yaxis_transform(), ha="right",
                 va="bottom", fontsize=9, color="#555555")
    top.set_ylim(0, 100)
    top.set_xlim(0.5, max(len(scored), 1) + 0.5)
    days = [local_time(e.started_utc) for e in scored]
    # Several sessions a day are told apart by their time.
    fmt = "%d %b" if len({d.date() for d in days}) == len(days) else "%d %b\n%H:%M"
    top.set_xticks(list(n), [f"{d:{fmt}}" for d in days],
                   rotation=45 if len(scored) > 8 else 0, ha="right" if len(scored) > 8 else
                   "center", fontsize=9)
    top.set_ylabel("mean coherence (0-100)")
    simulated = " (simulated strap included)" if any(e.simulated for e in scored) else ""
    top.set_title(f"{history.person}: coherence per session{simulated}" if scored else
                  f"{history.person}: no session with a coherence score yet", loc="left",
                  parse_math=False)  # a name is drawn as written

    weekly = list(history.weekly)
    while weekly and len(weekly) < MIN_WEEKS:  # a short history: the weeks before it were empty
        weekly.insert(0, (weekly[0][0] - timedelta(days=7), 0.0))
    bars = bottom.bar(range(len(weekly)), [m for _, m in weekly], color="#009e73", width=0.7)
    bottom.bar_label(bars, [f"{m:.0f}" if m else "" for _, m in weekly], fontsize=9, padding=2)
    bottom.set_xticks(range(len(weekly)), [f"{w:%d %b}" for w, _ in weekly], fontsize=9)
    bottom.set_xlabel("week starting")
    bottom.set_ylabel("minutes practised")
    bottom.set_title(f"minutes per week (current streak: {history.streak_days} "
                     f"day{'' if history.streak_days == 1 else 's'})", loc="left")
    for ax in (top, bottom):
        ax.spines[["top", "right"]].set_visible(False)
    buf = io.BytesIO()
    with missing_glyphs_as_boxes():
        fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _write_new(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file at ``path``; never replaces one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "xb") as f:
            f.write(data)
    except FileExistsError:
        raise BiobreathError(f"{path} already exists; choose another --plot (files are never "
                             "overwritten)") from None
    except OSError as e:
        raise BiobreathError(f"cannot write {path}: {e.strerror or e}") from None
