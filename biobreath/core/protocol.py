"""Breathing protocols as data: steps and breath shapes, validated from a decoded table.

A protocol is a sequence of steps. A paced step gives its breath either as seconds
(``inhale_s``, ``exhale_s``, optional ``hold_in_s``, ``hold_out_s``) or as a rate
(``rate_bpm``, breaths/min) with ``inhale_ratio`` (inhale share of inhale+exhale, 0-1, or a
string like ``"4:6"``) and optional holds in seconds; ``paced = false`` is a free-breathing step
(a baseline). Errors name the file and the field.
"""

from __future__ import annotations

from dataclasses import dataclass

from biobreath.errors import ProtocolError


@dataclass(frozen=True, slots=True)
class BreathShape:
    """One breath: durations in s of inhale, hold after inhale, exhale, hold after exhale."""

    inhale_s: float
    exhale_s: float
    hold_in_s: float = 0.0
    hold_out_s: float = 0.0

    @property
    def period_s(self) -> float:
        return self.inhale_s + self.hold_in_s + self.exhale_s + self.hold_out_s

    @property
    def rate_bpm(self) -> float:
        return 60.0 / self.period_s

    def at_rate(self, rate_bpm: float) -> "BreathShape":
        """The same proportions at another rate (breaths/min)."""
        k = (60.0 / rate_bpm) / self.period_s
        return BreathShape(self.inhale_s * k, self.exhale_s * k, self.hold_in_s * k,
                           self.hold_out_s * k)


@dataclass(frozen=True, slots=True)
class Step:
    """A stretch of a protocol: ``duration_s`` long, paced with ``shape`` or free (None)."""

    duration_s: float
    shape: BreathShape | None
    label: str = ""


@dataclass(frozen=True, slots=True)
class BreathingProtocol:
    name: str
    description: str
    steps: tuple[Step, ...]
    source: str = ""  # the file it came from

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.steps)


def _number(d: dict, key: str, where: str, *, lo: float, hi: float, default=None) -> float:
    v = d.get(key, default)
    if v is None:
        raise ProtocolError(f"{where}: missing '{key}'")
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise ProtocolError(f"{where}: '{key}' must be a number from {lo:g} to {hi:g}, got {v!r}")
    return float(v)


def _ratio(v, where: str) -> float:
    if isinstance(v, str) and ":" in v:
        a, _, b = v.partition(":")
        try:
            fa, fb = float(a), float(b)
        except ValueError:
            raise ProtocolError(f"{where}: 'inhale_ratio' must look like \"4:6\", got {v!r}") from None
        if fa <= 0 or fb <= 0:
            raise ProtocolError(f"{where}: 'inhale_ratio' parts must be positive, got {v!r}")
        return fa / (fa + fb)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.1 <= v <= 0.9:
        raise ProtocolError(f"{where}: 'inhale_ratio' must be 0.1-0.9 or \"in:out\", got {v!r}")
    return float(v)


def _parse_step(d: dict, where: str) -> Step:
    if not isinstance(d, dict):
        raise ProtocolError(f"{where}: a step must be a table")
    known = {"label", "minutes", "seconds", "paced", "rate_bpm", "inhale_ratio", "inhale_s",
             "exhale_s", "hold_in_s", "hold_out_s"}
    unknown = set(d) - known
    if unknown:
        raise ProtocolError(f"{where}: unknown field(s) {', '.join(map(repr, sorted(unknown)))}")
    if ("minutes" in d) == ("seconds" in d):
        raise ProtocolError(f"{where}: give exactly one of 'minutes' or 'seconds'")
    duration = (_number(d, "minutes", where, lo=0.05, hi=24 * 60) * 60 if "minutes" in d
                else _number(d, "seconds", where, lo=3, hi=24 * 3600))
    label = str(d.get("label", ""))
    paced = d.get("paced", True)
    if not isinstance(paced, bool):
        raise ProtocolError(f"{where}: 'paced' must be true or false")
    if not paced:
        return Step(duration, None, label or "free breathing")
    hold_in = _number(d, "hold_in_s", where, lo=0, hi=30, default=0.0)
    hold_out = _number(d, "hold_out_s", where, lo=0, hi=30, default=0.0)
    if "rate_bpm" in d:
        if "inhale_s" in d or "exhale_s" in d:
            raise ProtocolError(f"{where}: give 'rate_bpm' or 'inhale_s'/'exhale_s', not both")
        rate = _number(d, "rate_bpm", where, lo=1, hi=30)
        frac = _ratio(d.get("inhale_ratio", 0.5), where)
        breathing = 60.0 / rate - hold_in - hold_out
        if breathing < 1.0:
            raise ProtocolError(f"{where}: holds leave no time to breathe at {rate:g} breaths/min")
        shape = BreathShape(breathing * frac, breathing * (1 - frac), hold_in, hold_out)
    else:
        shape = BreathShape(_number(d, "inhale_s", where, lo=0.5, hi=30),
                            _number(d, "exhale_s", where, lo=0.5, hi=30), hold_in, hold_out)
    return Step(duration, shape, label or f"{shape.rate_bpm:.3g} breaths/min")


def parse_protocol(raw: dict, source: str = "<protocol>", default_name: str = "custom") -> BreathingProtocol:
    """Validate a decoded protocol table."""
    steps = raw.get("step")
    if not isinstance(steps, list) or not steps:
        raise ProtocolError(f"{source}: needs at least one [[step]]")
    name = raw.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise ProtocolError(f"{source}: 'name' must be a non-empty string")
    parsed = tuple(_parse_step(s, f"{source}: step {i + 1}") for i, s in enumerate(steps))
    return BreathingProtocol(name, str(raw.get("description", "")), parsed, source)
