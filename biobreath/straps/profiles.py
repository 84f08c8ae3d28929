"""Device profiles: what biobreath knows about each kind of strap, as TOML data in ``devices/``.

A profile names the strap, the advertised-name patterns that identify it (shell-style,
case-insensitive), the Device Information model numbers it reports (``model_patterns``; default:
its name), the GATT services it offers, its capabilities (RR intervals, skin contact, energy, raw
ECG and accelerometer through Polar Measurement Data) and its quirks. Capabilities left out of a
file are unknown. Matching never gates a device: anything that advertises the Heart Rate Service
gets the ``generic`` profile when no other matches. Errors name the file and field.

Two matchers: :func:`match_profile` works from an advertisement (name and service UUIDs), which is
all a scan has, and is only a first guess: an advertisement may be split over the advertising
packet and the scan response, and Windows reports the first packet (no name) on its own.
:func:`identify_profile` decides once connected, from what the strap says about itself (its model
number, its GATT name) and the services it really offers.
"""

from __future__ import annotations

import fnmatch
import functools
from dataclasses import dataclass
from pathlib import Path

from biobreath.errors import BiobreathError
from biobreath.files.datafiles import data_dirs, read_toml
from biobreath.straps.gatt import (
    BATTERY_SERVICE,
    DEVICE_INFORMATION_SERVICE,
    HEART_RATE_SERVICE,
    PMD_SERVICE,
)

SERVICE_NAMES: dict[str, str] = {
    "heart_rate": HEART_RATE_SERVICE,
    "battery": BATTERY_SERVICE,
    "device_information": DEVICE_INFORMATION_SERVICE,
    "polar_pmd": PMD_SERVICE,
    "movesense_gsp": "34802252-7185-4d5d-b431-630e7050e8f0",
}
"""Service names a profile may use instead of UUIDs."""

_BOOL_CAPABILITIES = ("rr", "contact", "energy", "ecg", "acc")
_RATE_CAPABILITIES = ("ecg_rate_hz", "acc_rate_hz")
_NUMBER = (int, float)
_QUIRKS: dict[str, type | tuple[type, ...]] = {
    "pmd_mtu": int, "max_connections": int, "silence_timeout_s": _NUMBER, "notes": str}
# Services every strap may offer: they tell no model apart (see identify_profile).
_COMMON_SERVICES = frozenset({HEART_RATE_SERVICE, BATTERY_SERVICE, DEVICE_INFORMATION_SERVICE})


class DeviceProfileError(BiobreathError):
    """A device profile file is missing, unreadable or malformed."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a strap can send; None where the profile does not say."""

    rr: bool | None = None
    contact: bool | None = None
    energy: bool | None = None
    ecg: bool | None = None
    acc: bool | None = None
    ecg_rate_hz: tuple[int, ...] = ()
    acc_rate_hz: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Quirks:
    """Known peculiarities: ``pmd_mtu`` the ATT MTU (bytes) its PMD frames need to be full (the
    Polar H10 does not even answer PMD commands below it), ``max_connections`` how many centrals
    it serves at once (it stops advertising when that many are connected),
    ``silence_timeout_s`` how long (s) it may go without a Heart Rate Measurement notification
    before its link counts as lost (None: the source's default), and free ``notes``."""

    pmd_mtu: int | None = None
    max_connections: int | None = None
    silence_timeout_s: float | None = None
    notes: str = ""


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    id: str                         # the file stem, e.g. "polar-h10"
    name: str
    manufacturer: str
    name_patterns: tuple[str, ...]
    services: tuple[str, ...]       # 128-bit UUID strings, lower case
    capabilities: Capabilities
    quirks: Quirks
    generic: bool = False
    source: str = ""
    model_patterns: tuple[str, ...] = ()  # Device Information model numbers; () = its name

    def matches_name(self, name: str | None) -> bool:
        """Whether an advertised name fits one of the patterns (case-insensitive)."""
        return _fits(name, self.name_patterns)

    def matches_model(self, model: str | None) -> bool:
        """Whether a Device Information model number (0x2A24) is this strap's (case-insensitive):
        one of ``model_patterns``, or the profile's name when the file lists none."""
        return _fits(model, self.model_patterns or (self.name,))


def _fits(text: str | None, patterns: tuple[str, ...]) -> bool:
    if not text:
        return False
    low = text.strip().lower()
    return any(fnmatch.fnmatchcase(low, p.lower()) for p in patterns)


def device_dirs() -> list[Path]:
    """Where profiles are looked up: the installed package data, then the source tree."""
    return data_dirs("devices")


def _uuid(text: str, where: str) -> str:
    if text in SERVICE_NAMES:
        return SERVICE_NAMES[text]
    low = text.lower()
    if len(low) == 4 and all(c in "0123456789abcdef" for c in low):
        return f"0000{low}-0000-1000-8000-00805f9b34fb"
    parts = low.split("-")
    if [len(p) for p in parts] == [8, 4, 4, 4, 12] and all(
            c in "0123456789abcdef" for c in "".join(parts)):
        return low
    raise DeviceProfileError(f"{where}: 'services' entry {text!r} is neither a known name "
                             f"({', '.join(SERVICE_NAMES)}) nor a UUID")


def _strings(raw: dict, key: str, where: str) -> tuple[str, ...]:
    v = raw.get(key, [])
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise DeviceProfileError(f"{where}: '{key}' must be a list of strings")
    return tuple(v)


def parse_profile(raw: dict, source: str, profile_id: str) -> DeviceProfile:
    """Validate one decoded profile table."""
    known = {"name", "manufacturer", "name_patterns", "model_patterns", "services",
             "capabilities", "quirks", "generic"}
    unknown = set(raw) - known
    if unknown:
        names = ", ".join(map(repr, sorted(unknown)))
        raise DeviceProfileError(f"{source}: unknown field(s) {names}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise DeviceProfileError(f"{source}: 'name' must be a non-empty string")
    manufacturer = raw.get("manufacturer", "")
    if not isinstance(manufacturer, str):
        raise DeviceProfileError(f"{source}: 'manufacturer' must be a string")
    generic = raw.get("generic", False)
    if not isinstance(generic, bool):
        raise DeviceProfileError(f"{source}: 'generic' must be true or false")
    patterns = _strings(raw, "name_patterns", source)
    if not patterns and not generic:
        raise DeviceProfileError(f"{source}: 'name_patterns' must list at least one pattern")
    models = _strings(raw, "model_patterns", source)
    services = tuple(_uuid(s, source) for s in _strings(raw, "services", source))
    caps = raw.get("capabilities", {})
    if not isinstance(caps, dict):
        raise DeviceProfileError(f"{source}: [capabilities] must be a table")
    unknown = set(caps) - set(_BOOL_CAPABILITIES) - set(_RATE_CAPABILITIES)
    if unknown:
        raise DeviceProfileError(f"{source}: unknown capabilit(ies) {', '.join(sorted(unknown))}")
    for key in _BOOL_CAPABILITIES:
        if key in caps and not isinstance(caps[key], bool):
            raise DeviceProfileError(f"{source}: capabilities.{key} must be true or false")
    for key in _RATE_CAPABILITIES:
        v = caps.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, int) and not isinstance(x, bool)
                                              and 0 < x <= 10000 for x in v):
            raise DeviceProfileError(f"{source}: capabilities.{key} must be a list of rates in Hz")
    quirks = raw.get("quirks", {})
    if not isinstance(quirks, dict):
        raise DeviceProfileError(f"{source}: [quirks] must be a table")
    for key, value in quirks.items():
        kind = _QUIRKS.get(key)
        if kind is None:
            raise DeviceProfileError(f"{source}: unknown quirk '{key}' "
                                     f"(known: {', '.join(_QUIRKS)})")
        if not isinstance(value, kind) or isinstance(value, bool):
            what = "an integer" if kind is int else "a string" if kind is str else "a number"
            raise DeviceProfileError(f"{source}: quirks.{key} must be {what}")
        if kind is not str and not value > 0:
            raise DeviceProfileError(f"{source}: quirks.{key} must be positive")
    return DeviceProfile(
        id=profile_id, name=name, manufacturer=manufacturer, name_patterns=patterns,
        services=services,
        capabilities=Capabilities(**{k: caps[k] for k in _BOOL_CAPABILITIES if k in caps},
                                  **{k: tuple(caps.get(k, [])) for k in _RATE_CAPABILITIES}),
        quirks=Quirks(**{k: float(v) if _QUIRKS[k] is _NUMBER else v
                         for k, v in quirks.items()}),
        generic=generic, source=source, model_patterns=models)


def load_profile(path: Path) -> DeviceProfile:
    """Load and validate one profile file."""
    raw = read_toml(path, "device profile", DeviceProfileError)
    return parse_profile(raw, str(path), path.stem)


def load_profiles(dirs: list[Path] | None = None) -> tuple[DeviceProfile, ...]:
    """Every profile (a file in an earlier folder wins over one of the same name later),
    specific ones first in file-name order, generic ones last."""
    found: dict[str, Path] = {}
    for d in reversed(device_dirs() if dirs is None else dirs):
        for p in sorted(d.glob("*.toml")):
            found[p.stem] = p
    profiles = [load_profile(found[k]) for k in sorted(found)]
    return tuple(sorted(profiles, key=lambda p: p.generic))


@functools.cache
def _installed_profiles() -> tuple[DeviceProfile, ...]:
    return load_profiles()


def match_profile(name: str | None, service_uuids: list[str] | tuple[str, ...] = (),
                  profiles: tuple[DeviceProfile, ...] | None = None) -> DeviceProfile | None:
    """The profile for an advertised ``name``: the first whose name pattern fits; otherwise a
    generic one when ``service_uuids`` include the Heart Rate Service; otherwise None."""
    profiles = _installed_profiles() if profiles is None else profiles
    for p in profiles:
        if not p.generic and p.matches_name(name):
            return p
    uuids = {u.lower() for u in service_uuids}
    if HEART_RATE_SERVICE in uuids:
        return next((p for p in profiles if p.generic), None)
    return None


def identify_profile(model: str | None, name: str | None, services: list[str] | tuple[str, ...]
                     | frozenset[str] = (), profiles: tuple[DeviceProfile, ...] | None = None
                     ) -> DeviceProfile:
    """The profile of a connected strap, from what it says about itself, most telling first:
    its Device Information ``model`` number, then its ``name`` (advertised or GATT), then the
    GATT ``services`` it offers (a profile whose services beyond the common ones, such as Polar
    Measurement Data, are all there); else the generic profile.

    Raises :class:`DeviceProfileError` when no profile matches and none is generic.
    """
    profiles = _installed_profiles() if profiles is None else profiles
    specific = [p for p in profiles if not p.generic]
    for p in specific:
        if p.matches_model(model):
            return p
    for p in specific:
        if p.matches_name(name):
            return p
    offered = {u.lower() for u in services}
    for p in specific:
        distinctive = set(p.services) - _COMMON_SERVICES
        if distinctive and distinctive <= offered:
            return p
    generic = next((p for p in profiles if p.generic), None)
    if generic is None:
        raise DeviceProfileError("no device profile matches and none is generic")
    return generic
