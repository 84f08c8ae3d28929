"""``biobreath people``: who practises on this computer, and each person's settings.

Without a name it lists everybody; with a name and options it sets that person's preferences
(the protocol, sound and session length ``train`` uses when none is given) or their resonance
rate by hand, creating the person if new.
"""

from __future__ import annotations

import argparse
import json

from biobreath.cli.args import MAX_SESSION_S
from biobreath.errors import BiobreathError


def add_parser(sub) -> None:
    p = sub.add_parser("people", help="list people, or set a person's preferences",
                       description="List the people who practise on this computer with their "
                                   "resonance rate, preferences and sessions; or, with NAME, "
                                   "set that person's preferences: the protocol, sound and "
                                   "session length 'train' uses when none is given.")
    p.add_argument("name", nargs="?", metavar="NAME",
                   help="the person to show or change (created if new)")
    p.add_argument("--protocol", metavar="NAME|PATH",
                   help="preferred protocol: a name from 'biobreath protocols' or a .toml file "
                        "('-' clears it)")
    p.add_argument("--sound", choices=["tone", "chime", "off", "-"],
                   help="preferred sound ('-' clears it)")
    p.add_argument("--minutes", type=_minutes, metavar="M",
                   help="preferred session length in minutes ('-' clears it: the protocol's "
                        "own length)")
    p.add_argument("--resonance", type=float, metavar="BPM",
                   help="set the resonance rate by hand, breaths/min (kept in the person's "
                        "history of rates beside the assessed ones)")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per person: name, resonance_bpm, protocol, sound, "
                        "session_minutes, strap, sessions, last_utc")
    p.set_defaults(run=run)


def _minutes(text: str) -> float | str:
    if text == "-":
        return text
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of minutes, got {text!r}") from None
    if not 0 < v * 60.0 <= MAX_SESSION_S:
        raise argparse.ArgumentTypeError("a session lasts more than 0 and at most 1440 minutes")
    return v


def _cleared(value):
    return None if value == "-" else value


def run(args) -> int:
    from biobreath.files.people import People, check_name
    from biobreath.files.protocols import load_protocol

    changes: dict[str, object] = {}
    if args.protocol is not None:
        if args.protocol != "-":
            load_protocol(args.protocol)  # refused now, not at the next session
        changes["protocol"] = _cleared(args.protocol)
    if args.sound is not None:
        changes["sound"] = _cleared(args.sound)
    if args.minutes is not None:
        changes["session_s"] = None if args.minutes == "-" else args.minutes * 60.0
    if (changes or args.resonance is not None) and args.name is None:
        raise BiobreathError("name the person whose settings to change: biobreath people NAME "
                             "--protocol ...")
    with People() as people:
        if args.name is not None:
            name = check_name(args.name)
            # The rate first: it is the one setting checked only as it is stored, and a
            # refused one must leave the others unchanged too.
            if args.resonance is not None:
                people.set_resonance(name, args.resonance, source="hand")
            if changes:
                people.set_preferences(name, **changes)
            if people.get(name) is None:
                raise BiobreathError(f"nobody called {name!r} is known here; give a setting "
                                     "to add them")
            names = [people.get(name).name]
        else:
            names = people.names()
        rows = [_summary(people, n) for n in names]
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
    elif not rows:
        print("Nobody has practised here yet.")
    else:
        print("\n".join(person_lines(rows)))
    return 0


def _summary(people, name: str) -> dict[str, object]:
    p = people.get(name)
    sessions = people.sessions(name, include_simulated=True)
    return {"name": p.name, "resonance_bpm": p.resonance_bpm, "protocol": p.protocol,
            "sound": p.sound,
            "session_minutes": None if p.session_s is None else round(p.session_s / 60.0, 3),
            "strap": p.strap, "sessions": len(sessions),
            "last_utc": sessions[-1].started_utc if sessions else None}


def person_lines(rows: list[dict[str, object]]) -> list[str]:
    """One plain line per person: name, resonance rate, preferences and practice."""
    from biobreath.core.resonance import rate_text
    from biobreath.offline.progress import local_time
    from biobreath.ui.formatting import one_line

    lines = []
    for r in rows:
        rate = "no resonance rate yet" if r["resonance_bpm"] is None else \
            f"resonance {rate_text(r['resonance_bpm'])} breaths/min"
        prefs = [f"protocol {one_line(str(r['protocol']))}" if r["protocol"] else None,
                 f"sound {r['sound']}" if r["sound"] else None,
                 f"{r['session_minutes']:g} min" if r["session_minutes"] else None,
                 f"strap {one_line(str(r['strap']))}" if r["strap"] else None]
        shown = ", ".join(x for x in prefs if x) or "no preferences"
        last = f", last {local_time(r['last_utc']):%Y-%m-%d}" if r["last_utc"] else ""
        lines.append(f"{one_line(str(r['name']))}: {rate}; {shown}; {r['sessions']} "
                     f"session{'' if r['sessions'] == 1 else 's'}{last}")
    return lines
