"""``biobreath protocols``: the shipped protocols and the user's own, with what they do."""

from __future__ import annotations

import json
import math
import shutil
import textwrap


def add_parser(sub) -> None:
    p = sub.add_parser("protocols", help="list the breathing protocols",
                       description="List the shipped breathing protocols and your own (the .toml "
                                   "files in the protocols folder of your data folder) with "
                                   "their length and description; a file that cannot be used "
                                   "is listed with the reason.")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per protocol: name, origin (shipped or yours), path, "
                        "minutes, description, problem")
    p.set_defaults(run=run)


def _minutes(seconds: float) -> str:
    m = seconds / 60.0
    return f"{m:.0f} min" if math.isclose(m, round(m)) else f"{m:.1f} min"


def run(args) -> int:
    from biobreath.files.protocols import list_protocols, protocol_dirs, user_protocol_dir
    from biobreath.ui.formatting import one_line

    entries = list_protocols()
    if args.json:
        for e in entries:
            print(json.dumps({
                "name": e.name, "origin": e.origin, "path": str(e.path),
                "minutes": round(e.protocol.duration_s / 60.0, 3) if e.protocol else None,
                "description": e.protocol.description if e.protocol else None,
                "problem": e.problem or None}))
        return 0
    width = min(shutil.get_terminal_size((100, 24)).columns, 100)
    shipped_dir = protocol_dirs()[0] if protocol_dirs() else None
    for origin, title, folder in (("shipped", "Shipped protocols", shipped_dir),
                                  ("yours", "Your protocols", user_protocol_dir())):
        mine = [e for e in entries if e.origin == origin]
        print(f"{title} ({folder}):" if folder else f"{title}:")
        if not mine:
            print("  none yet: save a .toml file there (see README, Protocols)"
                  if origin == "yours" else "  none found")
        for e in mine:
            length = _minutes(e.protocol.duration_s) if e.protocol else "-"
            print(f"  {one_line(e.name):<22} {length:>8}")
            text = e.protocol.description if e.protocol and not e.problem else ""
            if e.problem:
                text = f"cannot be used: {e.problem}" if e.protocol is None else e.problem
            for line in textwrap.wrap(one_line(text), width - 6):
                print(f"      {line}")
        print()
    return 0
