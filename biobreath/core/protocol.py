"""Breathing protocols as data: steps and breath shapes, validated from a decoded table.

A protocol is a sequence of steps. A paced step gives its breath either as seconds
(``inhale_s``, ``exhale_s``, optional ``hold_in_s``, ``hold_out_s``) or as a rate
(``rate_bpm``, breaths/min) with ``inhale_ratio`` (inhale share of inhale+exhale, 0.1-0.9, or a
string like ``"4:6"``) and optional holds in seconds; ``paced = false`` is a free-breathing step
(a baseline). ``rate_bpm = "resonance"`` is the person's own resonance rate, given when the
protocol is loaded; ``ramp_from_bpm`` makes the step a ramp from that rate to ``rate_bpm``
(a step every 30 s); ``adaptive = true`` lets the pacer move around the step's rate
(:mod:`biobreath.core.adaptive`). Errors name the file, the step and the field.

One set of rules, whichever way a protocol arrives (a TOML file, or rebuilt from a recording's
metadata, which gives every paced step as seconds): every number is finite; a step lasts 3 s to
24 h; inhale and exhale each last 0.5-30 s once the ratio is applied; the inhale share is
0.1-0.9. Safety bounds on top of those: a breath is paced at 2-30 breaths/min and holds last at
most 10 s, unless the protocol sets ``allow_extreme_pacing = true`` at its top level; then the
wider limits of earlier versions apply (``rate_bpm`` 1-30, holds up to 30 s, and no bound on the
rate of a breath given in seconds beyond what the 0.5-30 s phases allow).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from biobreath.errors import ProtocolError

# Safety bounds (overridden by allow_extreme_pacing = true) and the wider limits that flag allows.
MIN_RATE_BPM, MAX_RATE_BPM = 2.0, 30.0
MAX_HOLD_S = 10.0
EXTREME_MIN_RATE_BPM = 1.0
EXTREME_MAX_HOLD_S = 30.0
# Validity (always).
PHASE_S = (0.5, 30.0)             # inhale, exhale
INHALE_SHARE = (0.1, 0.9)
STEP_SECONDS = (3.0, 24 * 3600.0)
STEP_MINUTES = (0.05, 24 * 60.0)
_REL_TOL = 1e-9  # derived durations and rates: float rounding must not flip a verdict

_TOP_KEYS = ("name", "description", "step", "allow_extreme_pacing")
_STEP_KEYS = ("label", "minutes", "seconds", "paced", "rate_bpm", "inhale_ratio", "inhale_s",
              "exhale_s", "hold_in_s", "hold_out_s", "top_up_s", "ramp_from_bpm", "adaptive")
_BREATH_KEYS = ("rate_bpm", "inhale_ratio", "inhale_s", "exhale_s", "hold_in_s", "hold_out_s",
                "top_up_s", "ramp_from_bpm", "adaptive")
RESONANCE = "resonance"  # rate_bpm = "resonance": the person's own rate, given when loading
DEFAULT_RESONANCE_BPM = 6.0  # ... or this, for a person not yet assessed
NO_ASSESSMENT_NOTE = ("No resonance assessment yet, so this paces at 6 breaths/min; an "
                      "assessment finds your own rate.")
RAMP_STEP_S = 30.0  # a ramp changes rate every this many seconds
TOP_UP_FROM = 0.75  # share of a full breath the first inhale reaches before a top-up
_RATIO_PART = re.compile(r"\s*(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*", re.ASCII)
_FLAG = "set allow_extreme_pacing = true at the top of the file to allow it"


def safety_line(stop: str) -> str:
    """The plain line every session starts with; ``stop`` says how to stop (a key)."""
    return (f"Breathe gently, not deeply. If you feel lightheaded or dizzy, stop ({stop}) and "
            "breathe normally.")


@dataclass(frozen=True, slots=True)
class BreathShape:
    """One breath: durations in s of inhale, hold after inhale, exhale, hold after exhale, and
    of a second, short inhale straight after the first (``top_up_s``, 0: none), as in a
    physiological sigh: the first inhale then fills the lungs to :data:`TOP_UP_FROM`, the
    second tops them up."""

    inhale_s: float
    exhale_s: float
    hold_in_s: float = 0.0
    hold_out_s: float = 0.0
    top_up_s: float = 0.0

    @property
    def parts(self) -> tuple[float, float, float, float, float]:
        """Durations (s) in breath order: inhale, top-up, hold, exhale, hold."""
        return self.inhale_s, self.top_up_s, self.hold_in_s, self.exhale_s, self.hold_out_s

    @property
    def period_s(self) -> float:
        return sum(self.parts)

    @property
    def rate_bpm(self) -> float:
        """Breaths/min, rounded to 1e-9 so that a step written as 6.5 reads back as 6.5 (its
        durations, 60/6.5 split 4:6, sum to a period a rounding error away from 60/6.5)."""
        return round(60.0 / self.period_s, 9)

    def at_rate(self, rate_bpm: float) -> BreathShape:
        """The same proportions at another rate (breaths/min)."""
        k = (60.0 / rate_bpm) / self.period_s
        return BreathShape(self.inhale_s * k, self.exhale_s * k, self.hold_in_s * k,
                           self.hold_out_s * k, self.top_up_s * k)


@dataclass(frozen=True, slots=True)
class Step:
    """A stretch of a protocol: ``duration_s`` long, paced with ``shape`` or free (None)."""

    duration_s: float
    shape: BreathShape | None
    label: str = ""
    adaptive: bool = False  # the pacer may move around this rate (biobreath.core.adaptive)


@dataclass(frozen=True, slots=True)
class BreathingProtocol:
    name: str
    description: str
    steps: tuple[Step, ...]
    source: str = ""  # the file it came from
    allow_extreme_pacing: bool = False  # the protocol lifted the safety bounds (see module doc)

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.steps)


def _show(v: object) -> str:
    """A value for an error message: short, one line, and safe for any nesting depth."""
    if isinstance(v, dict):
        return "a table"
    if isinstance(v, list):
        return "an array"
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _names(keys: list) -> str:
    shown = ", ".join(_show(k) for k in keys[:5])
    return shown + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")


def _within(v: float, lo: float, hi: float) -> bool:
    """``lo <= v <= hi`` up to float rounding (for durations and rates derived by arithmetic)."""
    return lo * (1 - _REL_TOL) <= v <= hi * (1 + _REL_TOL)


def _number(d: dict, key: str, where: str, *, lo: float, hi: float, default=None,
            hint: str = "", tolerant: bool = False) -> float:
    """``d[key]`` as a float from ``lo`` to ``hi`` (``tolerant``: up to float rounding, for
    durations a recording stores after computing them from a rate)."""
    v = d.get(key, default)
    if v is None:
        raise ProtocolError(f"{where}: missing '{key}'")
    if (isinstance(v, bool) or not isinstance(v, (int, float))
            or not (_within(v, lo, hi) if tolerant else lo <= v <= hi)):
        raise ProtocolError(f"{where}: '{key}' must be a number from {lo:g} to {hi:g}{hint}, "
                            f"got {_show(v)}")
    return float(v)


def _ratio(v: object, where: str) -> float:
    """The inhale share of inhale + exhale, from a fraction or an ``"in:out"`` string."""
    lo, hi = INHALE_SHARE
    if isinstance(v, str):
        a, sep, b = v.partition(":")
        if not (sep and _RATIO_PART.fullmatch(a) and _RATIO_PART.fullmatch(b)):
            raise ProtocolError(f"{where}: 'inhale_ratio' must look like \"4:6\", got {_show(v)}")
        fa, fb = float(a), float(b)
        if not (math.isfinite(fa) and math.isfinite(fb) and fa > 0 and fb > 0):
            raise ProtocolError(f"{where}: 'inhale_ratio' parts must be positive finite numbers, "
                                f"got {_show(v)}")
        share = fa / (fa + fb)
        if not _within(share, lo, hi):
            raise ProtocolError(f"{where}: 'inhale_ratio' {_show(v)} gives an inhale share of "
                                f"{share:.3g}; it must be from {lo:g} to {hi:g} (1:9 to 9:1)")
        return share
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise ProtocolError(f"{where}: 'inhale_ratio' must be {lo:g}-{hi:g} or \"in:out\", "
                            f"got {_show(v)}")
    return float(v)


def check_breath(shape: BreathShape, *, allow_extreme_pacing: bool = False,
                 where: str = "breath") -> BreathShape:
    """``shape`` if a protocol could pace it (the same rules as :func:`parse_protocol`, with or
    without ``allow_extreme_pacing``), else :class:`ProtocolError` with one line. For breaths
    made outside a protocol file, such as a rate the user picks while training."""
    max_hold = EXTREME_MAX_HOLD_S if allow_extreme_pacing else MAX_HOLD_S
    for key, v in (("hold_in_s", shape.hold_in_s), ("hold_out_s", shape.hold_out_s)):
        if not (math.isfinite(v) and _within(v, 0.0, max_hold)):
            raise ProtocolError(f"{where}: '{key}' must be from 0 to {max_hold:g} s, got {v:.3g}")
    return _check_shape(shape, where, allow_extreme_pacing, "the breath's durations")


def _check_shape(shape: BreathShape, where: str, extreme: bool, fields: str) -> BreathShape:
    """The rules every paced breath meets, however it was given (see the module docstring)."""
    lo, hi = PHASE_S
    for key, v in (("inhale", shape.inhale_s), ("exhale", shape.exhale_s)):
        if not (math.isfinite(v) and _within(v, lo, hi)):
            raise ProtocolError(f"{where}: {fields} give an {key} of {v:.3g} s; each of inhale "
                                f"and exhale must last {lo:g}-{hi:g} s")
    if not (shape.top_up_s == 0 or (math.isfinite(shape.top_up_s)
                                    and _within(shape.top_up_s, lo, hi))):
        raise ProtocolError(f"{where}: {fields} give a second inhale of {shape.top_up_s:.3g} s; "
                            f"it must last {lo:g}-{hi:g} s")
    rate = shape.rate_bpm
    if not math.isfinite(rate):
        raise ProtocolError(f"{where}: {fields} give no finite breathing rate")
    if not extreme and not _within(rate, MIN_RATE_BPM, MAX_RATE_BPM):
        raise ProtocolError(f"{where}: {fields} give {rate:.3g} breaths/min; paced breathing "
                            f"must be {MIN_RATE_BPM:g}-{MAX_RATE_BPM:g} breaths/min ({_FLAG})")
    return shape


def _parse_step(d: object, where: str, extreme: bool) -> tuple[Step, ...]:
    """One step of a file; a ramp (``ramp_from_bpm``) becomes a step every
    :data:`RAMP_STEP_S` at rates evenly spaced from the ramp's start to ``rate_bpm``."""
    if not isinstance(d, dict):
        raise ProtocolError(f"{where}: a step must be a table")
    unknown = [k for k in d if k not in _STEP_KEYS]
    if unknown:
        raise ProtocolError(f"{where}: unknown field(s) {_names(unknown)} "
                            f"(known: {', '.join(_STEP_KEYS)})")
    if ("minutes" in d) == ("seconds" in d):
        raise ProtocolError(f"{where}: give exactly one of 'minutes' or 'seconds'")
    duration = (_number(d, "minutes", where, lo=STEP_MINUTES[0], hi=STEP_MINUTES[1]) * 60
                if "minutes" in d
                else _number(d, "seconds", where, lo=STEP_SECONDS[0], hi=STEP_SECONDS[1]))
    label = d.get("label", "")
    if not isinstance(label, str):
        raise ProtocolError(f"{where}: 'label' must be a string, got {_show(label)}")
    paced = d.get("paced", True)
    if not isinstance(paced, bool):
        raise ProtocolError(f"{where}: 'paced' must be true or false, got {_show(paced)}")
    if not paced:
        extra = [k for k in _BREATH_KEYS if k in d]
        if extra:
            raise ProtocolError(f"{where}: a free-breathing step (paced = false) takes no "
                                f"{', '.join(repr(k) for k in extra)}")
        return (Step(duration, None, label or "free breathing"),)
    adaptive = d.get("adaptive", False)
    if not isinstance(adaptive, bool):
        raise ProtocolError(f"{where}: 'adaptive' must be true or false, got {_show(adaptive)}")
    max_hold = EXTREME_MAX_HOLD_S if extreme else MAX_HOLD_S
    hold_hint = "" if extreme else f" ({_FLAG} up to {EXTREME_MAX_HOLD_S:g})"
    hold_in = _number(d, "hold_in_s", where, lo=0, hi=max_hold, default=0.0, hint=hold_hint)
    hold_out = _number(d, "hold_out_s", where, lo=0, hi=max_hold, default=0.0, hint=hold_hint)
    if "rate_bpm" in d:
        if "inhale_s" in d or "exhale_s" in d:
            raise ProtocolError(f"{where}: give 'rate_bpm' or 'inhale_s'/'exhale_s', not both")
        if "top_up_s" in d:
            raise ProtocolError(f"{where}: 'top_up_s' goes with 'inhale_s'/'exhale_s', not with "
                                "'rate_bpm'")
        lo = EXTREME_MIN_RATE_BPM if extreme else MIN_RATE_BPM
        rate_hint = "" if extreme else f" ({_FLAG} from {EXTREME_MIN_RATE_BPM:g})"
        rate = _number(d, "rate_bpm", where, lo=lo, hi=MAX_RATE_BPM, hint=rate_hint)
        frac = _ratio(d.get("inhale_ratio", 0.5), where)
        breathing = 60.0 / rate - hold_in - hold_out
        if breathing < 2 * PHASE_S[0]:
            raise ProtocolError(f"{where}: holds leave no time to breathe at {rate:g} "
                                "breaths/min")
        shape = BreathShape(breathing * frac, breathing * (1 - frac), hold_in, hold_out)
        fields = "'rate_bpm' and 'inhale_ratio'"
        if "ramp_from_bpm" in d:
            return _ramp(d, where, extreme, duration, label, shape, lo, rate_hint)
    else:
        if "ramp_from_bpm" in d:
            raise ProtocolError(f"{where}: 'ramp_from_bpm' goes with 'rate_bpm', not with "
                                "'inhale_s'/'exhale_s'")
        top_up = _number(d, "top_up_s", where, lo=0, hi=PHASE_S[1], default=0.0)
        if 0 < top_up < PHASE_S[0]:
            raise ProtocolError(f"{where}: 'top_up_s' must be 0 (none) or from {PHASE_S[0]:g} "
                                f"to {PHASE_S[1]:g} s, got {top_up:g}")
        if "inhale_ratio" in d:
            raise ProtocolError(f"{where}: 'inhale_ratio' goes with 'rate_bpm', not with "
                                "'inhale_s'/'exhale_s'")
        lo, hi = PHASE_S
        shape = BreathShape(_number(d, "inhale_s", where, lo=lo, hi=hi, tolerant=True),
                            _number(d, "exhale_s", where, lo=lo, hi=hi, tolerant=True),
                            hold_in, hold_out, top_up)
        fields = ("'inhale_s', 'exhale_s', 'top_up_s' and the holds" if top_up
                  else "'inhale_s', 'exhale_s' and the holds")
    _check_shape(shape, where, extreme, fields)
    return (Step(duration, shape, label or f"{shape.rate_bpm:.3g} breaths/min", adaptive),)


def _ramp(d: dict, where: str, extreme: bool, duration: float, label: str, end: BreathShape,
          lo: float, hint: str) -> tuple[Step, ...]:
    """A ramp from ``ramp_from_bpm`` to the step's rate in :data:`RAMP_STEP_S` steps, each breath
    keeping the step's inhale share and holds."""
    if d.get("adaptive"):
        raise ProtocolError(f"{where}: a ramp (ramp_from_bpm) cannot be adaptive")
    start = _number(d, "ramp_from_bpm", where, lo=lo, hi=MAX_RATE_BPM, hint=hint)
    n = max(2, round(duration / RAMP_STEP_S))
    if duration / n < STEP_SECONDS[0]:
        raise ProtocolError(f"{where}: a ramp needs at least {2 * STEP_SECONDS[0]:g} s")
    steps = []
    breathing = end.inhale_s + end.exhale_s
    frac = end.inhale_s / breathing
    for k in range(n):
        rate = start + (end.rate_bpm - start) * k / (n - 1)
        b = 60.0 / rate - end.hold_in_s - end.hold_out_s
        if b < 2 * PHASE_S[0]:
            raise ProtocolError(f"{where}: holds leave no time to breathe at {rate:.3g} "
                                "breaths/min")
        shape = _check_shape(BreathShape(b * frac, b * (1 - frac), end.hold_in_s, end.hold_out_s),
                             where, extreme, "'ramp_from_bpm' and 'rate_bpm'")
        steps.append(Step(duration / n, shape, label or f"{rate:.3g} breaths/min"))
    return tuple(steps)


def _resolve_resonance(raw_steps: list, resonance_bpm: float | None) -> tuple[list, bool]:
    """The steps with ``rate_bpm = "resonance"`` replaced by ``resonance_bpm`` (or
    :data:`DEFAULT_RESONANCE_BPM`), and whether any step asked for it."""
    rate = DEFAULT_RESONANCE_BPM if resonance_bpm is None else resonance_bpm
    out, used = [], False
    for step in raw_steps:
        if isinstance(step, dict) and step.get("rate_bpm") == RESONANCE:
            step, used = {**step, "rate_bpm": rate}, True
        out.append(step)
    return out, used


def parse_protocol(raw: dict, source: str = "<protocol>", default_name: str = "custom", *,
                   resonance_bpm: float | None = None) -> BreathingProtocol:
    """Validate a decoded protocol table (from a TOML file or rebuilt from a recording); raise
    :class:`ProtocolError` with one line naming ``source``, the step and the field. A step's
    ``rate_bpm = "resonance"`` paces at ``resonance_bpm`` (the person's rate, breaths/min);
    without it at 6 breaths/min, and the description says no assessment was done."""
    if not isinstance(raw, dict):
        raise ProtocolError(f"{source}: a protocol must be a table")
    unknown = [k for k in raw if k not in _TOP_KEYS]
    if unknown:
        raise ProtocolError(f"{source}: unknown top-level field(s) "
                            f"{_names(unknown)} (known: "
                            f"{', '.join(_TOP_KEYS)}; steps go in [[step]] tables)")
    extreme = raw.get("allow_extreme_pacing", False)
    if not isinstance(extreme, bool):
        raise ProtocolError(f"{source}: 'allow_extreme_pacing' must be true or false, "
                            f"got {_show(extreme)}")
    steps = raw.get("step")
    if not isinstance(steps, list) or not steps:
        raise ProtocolError(f"{source}: needs at least one [[step]]")
    name = raw.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise ProtocolError(f"{source}: 'name' must be a non-empty string")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise ProtocolError(f"{source}: 'description' must be a string, got {_show(description)}")
    steps, personal = _resolve_resonance(steps, resonance_bpm)
    if personal and resonance_bpm is None:
        description = f"{description} {NO_ASSESSMENT_NOTE}".strip()
    parsed = tuple(step for i, s in enumerate(steps)
                   for step in _parse_step(s, f"{source}: step {i + 1}", extreme))
    return BreathingProtocol(name, description, parsed, source, extreme)
