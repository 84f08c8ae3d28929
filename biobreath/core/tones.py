"""Sound for eyes-closed practice, generated from the pacer: a tone or chimes, as sample blocks.

Two kinds, both pure functions of the pacer and of the sample index (sample ``i`` sounds at
session time ``i / fs_hz`` s), so the sound follows the pacer exactly and blocks generated one
after another join into the very signal one long block gives:

* **tone**: a soft sine whose pitch follows the pacer's lung-volume curve, rising from
  :attr:`ToneSettings.low_hz` (empty) to :attr:`ToneSettings.high_hz` (full) while breathing in
  and falling while breathing out. It is **silent during holds** and free breathing: silence is
  the cue to hold, and a steady drone would blur the hold into the breath around it. The
  oscillator integrates its frequency (its phase is carried from block to block), so pitch
  changes never jump; the tone fades in and out with raised-cosine ramps where it starts and
  stops. Both keep every sample-to-sample step within the sine's own largest step, so no click.
* **chime**: a short bell-like note at the start of every stage (breathe in, in again, hold,
  breathe out, hold): high for in (both inhales of a sigh), low for out, between them for a
  hold; each begins with a raised-cosine attack and decays exponentially to zero within
  :attr:`ChimeSettings.length_s`.

``pacer`` is anything with the :class:`~biobreath.core.pacer.Pacer` queries used here
(``volume``, ``stages``, ``phase``, ``breath_start``, ``segment``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from biobreath.core.pacer import STAGES, Stage

SAMPLE_RATE_HZ = 44_100
"""Samples per second of every block (CD rate: every sound card plays it)."""

SOUND_KINDS = ("tone", "chime", "off")

_SOUNDING = np.array([s in (Stage.INHALE, Stage.TOP_UP, Stage.EXHALE) for s in STAGES])


@dataclass(frozen=True, slots=True)
class ToneSettings:
    """The tone: pitch (Hz) at empty and full lungs, peak amplitude at volume 1 (full scale 1),
    and the length (s) of its fade in and out."""

    low_hz: float = 196.0    # G3
    high_hz: float = 293.7   # D4: a fifth above, a gentle rise
    peak: float = 0.3
    fade_s: float = 0.06


@dataclass(frozen=True, slots=True)
class ChimeSettings:
    """A chime: pitch (Hz) per stage, attack and decay time constants (s), total length (s), and
    peak amplitude at volume 1."""

    inhale_hz: float = 523.3  # C5
    hold_hz: float = 440.0    # A4
    exhale_hz: float = 392.0  # G4
    attack_s: float = 0.005
    decay_s: float = 0.5
    length_s: float = 2.5
    peak: float = 0.3


def _check_volume(volume: float) -> None:
    if not 0.0 <= volume <= 1.0:
        raise ValueError(f"volume must be from 0 to 1, got {volume!r}")


def _rise(x: np.ndarray) -> np.ndarray:
    """Raised cosine from 0 (x <= 0) to 1 (x >= 1)."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0))


def sample_times(i0: int, n: int, fs_hz: float = SAMPLE_RATE_HZ) -> np.ndarray:
    """Session times (s) of samples ``i0 .. i0 + n - 1`` (computed from the integer index, so a
    sample has the same time whichever block it falls in)."""
    return (i0 + np.arange(n)) / fs_hz


def tone_gain(pacer, t: np.ndarray, fade_s: float) -> np.ndarray:
    """The tone's loudness 0-1 at times ``t`` (s): 1 while breathing in or out, 0 in holds and
    free breathing, with raised-cosine ramps of ``fade_s`` (at most half the stage) starting
    where the tone starts or stops. Before the session starts the tone counts as silent."""
    stage, since, left = pacer.stages(t)
    start = t - since
    before, _, _ = pacer.stages(start - 1e-6)
    was_sounding = _SOUNDING[before] & (start > 0)
    ramp = _rise(since / np.maximum(np.minimum(fade_s, (since + left) / 2), 1e-9))
    return np.where(_SOUNDING[stage], np.where(was_sounding, 1.0, ramp),
                    np.where(was_sounding, 1.0 - ramp, 0.0))


def tone_block(pacer, i0: int, n: int, phase_rad: float, volume: float,
               settings: ToneSettings = ToneSettings(),
               fs_hz: float = SAMPLE_RATE_HZ) -> tuple[np.ndarray, float]:
    """Samples ``i0 .. i0 + n - 1`` of the tone at ``volume`` (0-1), starting from oscillator
    phase ``phase_rad``; returns the samples and the phase to start the next block with."""
    _check_volume(volume)
    t = sample_times(i0, n, fs_hz)
    lung = np.nan_to_num(np.asarray(pacer.volume(t), dtype=float), nan=0.0)
    freq = settings.low_hz + (settings.high_hz - settings.low_hz) * lung
    # Phase at sample k: the phase before the block plus the frequency summed up to k.
    phase = phase_rad + 2 * np.pi * np.cumsum(freq) / fs_hz
    out = volume * settings.peak * tone_gain(pacer, t, settings.fade_s) * np.sin(phase)
    end = float(phase[-1]) % (2 * np.pi) if n else phase_rad
    return out, end


def stage_onsets(pacer, t0: float, t1: float) -> list[tuple[float, Stage]]:
    """Every stage start (s) of paced breathing in ``[t0, t1)``, with its stage, in time order."""
    out = []
    first = max(0, math.floor(float(pacer.phase(max(t0, 0.0)))) - 1)
    last = math.floor(float(pacer.phase(max(t1, 0.0)))) + 1
    for n in range(first, last + 1):
        b = pacer.breath_start(n)
        shape = pacer.segment(b).shape
        if shape is None:
            continue
        t = b
        for stage, length in zip(STAGES, shape.parts):  # FREE, last, has no part
            if length > 0 and t0 <= t < t1:
                out.append((t, stage))
            t += length
    return out


def chime(tau: np.ndarray, freq_hz: float, settings: ChimeSettings = ChimeSettings()) -> np.ndarray:
    """One chime at times ``tau`` (s) after its onset (0 before it and after its length): a
    fundamental with two soft inharmonic partials, as a small bell has."""
    s = settings
    inside = (tau >= 0) & (tau < s.length_s)
    tt = np.where(inside, tau, 0.0)
    env = (_rise(tt / s.attack_s) * np.exp(-tt / s.decay_s)
           * (1.0 - _rise((tt - (s.length_s - 0.1)) / 0.1)))  # the tail reaches 0 at the end
    tone = (np.sin(2 * np.pi * freq_hz * tt) + 0.25 * np.sin(2 * np.pi * 2.76 * freq_hz * tt)
            + 0.08 * np.sin(2 * np.pi * 5.40 * freq_hz * tt)) / 1.33
    return np.where(inside, s.peak * env * tone, 0.0)


def chime_block(pacer, i0: int, n: int, volume: float,
                settings: ChimeSettings = ChimeSettings(),
                fs_hz: float = SAMPLE_RATE_HZ) -> np.ndarray:
    """Samples ``i0 .. i0 + n - 1`` of the chimes at ``volume`` (0-1)."""
    _check_volume(volume)
    t = sample_times(i0, n, fs_hz)
    out = np.zeros(n)
    if not n:
        return out
    pitch = {Stage.INHALE: settings.inhale_hz, Stage.TOP_UP: settings.inhale_hz,
             Stage.EXHALE: settings.exhale_hz, Stage.HOLD_IN: settings.hold_hz,
             Stage.HOLD_OUT: settings.hold_hz}
    for onset, stage in stage_onsets(pacer, float(t[0]) - settings.length_s, float(t[-1]) + 1e-9):
        out += chime(t - onset, pitch[stage], settings)
    return volume * out
