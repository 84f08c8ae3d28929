"""``biobreath scan``: list nearby heart-rate straps."""

from __future__ import annotations

from biobreath.cli.args import positive_seconds
from biobreath.ui.formatting import one_line


def add_parser(sub) -> None:
    sc = sub.add_parser("scan", help="list nearby heart-rate straps",
                        description="List Bluetooth devices advertising the Heart Rate Service.")
    sc.add_argument("--virtual", action="store_true",
                    help="scan the virtual radio (finds the virtual Polar H10)")
    sc.add_argument("--timeout", type=positive_seconds, default=5.0, metavar="S",
                    help="how long to listen, seconds (default 5)")
    sc.set_defaults(run=run)


def run(args) -> int:
    import asyncio

    from biobreath.sources.factory import scan_straps

    found = asyncio.run(scan_straps(args.timeout, virtual=args.virtual))
    if not found:
        print(f"no heart-rate straps heard in {args.timeout:g} s; is the strap worn (its "
              "electrodes moist) and not connected to another app?")
        return 0
    print(f"{'name':<24} {'address':<20} {'signal':>7}  profile")
    for r in found:
        print(f"{one_line(r.name) or '?':<24} {one_line(r.address):<20} {r.rssi:>4} dBm  "
              f"{r.profile.name}")
    return 0
