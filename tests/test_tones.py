"""The generated sound follows the pacer: pitch turns and chime onsets at the pacer's stage
changes, silence in holds, no clicks, blocks that join seamlessly, volume; and the player's
no-device path."""

import asyncio
import logging
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import hilbert

from biobreath.clock import ScaledClock
from biobreath.core.pacer import Pacer
from biobreath.core.protocol import parse_protocol
from biobreath.core.tones import (
    SAMPLE_RATE_HZ,
    ChimeSettings,
    ToneSettings,
    chime_block,
    tone_block,
)
from biobreath.files.protocols import load_protocol
from biobreath.session import Session
from biobreath.session.sound import SoundPlayer, SoundUnavailable, _PortAudioOutput
from biobreath.sim.physiology import SimParams
from biobreath.sim.source import SimulatedStrap

FS = SAMPLE_RATE_HZ


def _pacer(**step):
    return Pacer(parse_protocol({"step": [{"minutes": 2, **step}]}))


def _tone(pacer, seconds, volume=1.0):
    return tone_block(pacer, 0, int(seconds * FS), 0.0, volume)[0]


def _inst_freq(x):
    """Instantaneous frequency (Hz) per sample from the analytic signal, by an independent
    route from the generator's own phase sum."""
    phase = np.unwrap(np.angle(hilbert(x)))
    return np.r_[np.diff(phase), np.nan] * FS / (2 * np.pi)


def _turning_point(t, f, around):
    """Time (s) where the pitch stops rising or falling nearest ``around``: the zero crossing of
    its slope (pitch change over 20 ms), interpolated between samples."""
    m = np.abs(t - around) < 0.5
    tt, ff = t[m], f[m]
    h = int(0.01 * FS)
    slope = ff[2 * h:] - ff[:-2 * h]
    ts = tt[h:-h]
    k = np.flatnonzero(np.sign(slope[1:]) != np.sign(slope[:-1]))
    k = k[np.argmin(np.abs(ts[k] - around))]
    return ts[k] + (ts[k + 1] - ts[k]) * slope[k] / (slope[k] - slope[k + 1])


def test_pitch_turns_at_the_pacers_stage_changes():
    pacer = _pacer(rate_bpm=5.5, inhale_ratio="4:6")
    x = _tone(pacer, 40)
    t = np.arange(x.size) / FS
    f = _inst_freq(x)
    period = 60 / 5.5
    inhale = 0.4 * period
    for n in (1, 2):  # away from the fade-in at the start
        top = _turning_point(t, f, n * period + inhale)
        bottom = _turning_point(t, f, (n + 1) * period)
        assert abs(top - (n * period + inhale)) < 0.004
        assert abs(bottom - (n + 1) * period) < 0.004
    # Pitch spans the settings' range: low when empty, high when full.
    s = ToneSettings()
    inner = f[(t > 5) & (t < 35)]  # away from the analytic signal's edge effects
    assert inner.max() == pytest.approx(s.high_hz, abs=0.5)
    assert inner.min() == pytest.approx(s.low_hz, abs=0.5)


def _crossings(env, level, rising):
    above = env > level
    idx = np.flatnonzero(above[1:] & ~above[:-1] if rising else ~above[1:] & above[:-1])
    return (idx + 1) / FS


def test_tone_is_silent_in_holds_and_stops_and_starts_on_time():
    pacer = Pacer(load_protocol("box"))  # in 4, hold 4, out 4, hold 4
    x = _tone(pacer, 34)
    env = np.abs(hilbert(x))[: 33 * FS]  # away from the analytic signal's edge effects
    env[: int(0.01 * FS)] = 0.0  # (the fade-in is still below a tenth there)
    peak = ToneSettings().peak
    half = ToneSettings().fade_s / 2  # a raised-cosine fade passes half way at its middle
    assert np.all(np.abs(x[int(5 * FS):int(7.9 * FS)]) == 0)  # hold after inhaling
    assert np.all(np.abs(x[int(13 * FS):int(15.9 * FS)]) == 0)  # hold after exhaling
    stops = _crossings(env, peak / 2, rising=False)
    starts = _crossings(env, peak / 2, rising=True)
    assert np.allclose(stops, np.array([4, 12, 20, 28]) + half, atol=0.003)
    assert np.allclose(starts, np.array([0, 8, 16, 24, 32]) + half, atol=0.003)


def test_chimes_start_at_every_stage_change():
    pacer = Pacer(load_protocol("box"))
    x = chime_block(pacer, 0, int(30 * FS), 1.0)
    env = np.abs(hilbert(x))
    # Onset: the envelope rising fastest, in the middle of the attack.
    rise = np.r_[0, np.diff(env)]
    cand = np.flatnonzero((rise > 0.3 * rise.max()) & (rise >= np.roll(rise, 1))
                          & (rise >= np.roll(rise, -1)))
    onsets = [cand[0]] + [c for a, c in zip(cand, cand[1:]) if c - a > 0.1 * FS]
    expected = np.arange(0, 30, 4.0)
    assert len(onsets) == len(expected)
    attack_mid = ChimeSettings().attack_s / 2
    assert np.allclose(np.array(onsets) / FS - attack_mid, expected, atol=0.003)
    # Pitch: high at "breathe in", low at "breathe out".
    def pitch_at(t):
        seg = x[int((t + 0.05) * FS):int((t + 0.35) * FS)]
        spec = np.abs(np.fft.rfft(seg * np.hanning(seg.size)))
        return np.fft.rfftfreq(seg.size, 1 / FS)[np.argmax(spec)]
    assert pitch_at(0) == pytest.approx(ChimeSettings().inhale_hz, abs=5)
    assert pitch_at(8) == pytest.approx(ChimeSettings().exhale_hz, abs=5)
    assert pitch_at(4) == pytest.approx(ChimeSettings().hold_hz, abs=5)


def _sine_step(freq_hz, amplitude):
    """The largest sample-to-sample step of a sine (Hz, amplitude) at the sample rate."""
    return amplitude * 2 * np.sin(np.pi * freq_hz / FS)


@pytest.mark.parametrize("name", ["coherence", "box", "resonance-assessment", "sigh"])
def test_no_clicks(name):
    pacer = Pacer(load_protocol(name))
    seconds = 30  # from 100 s: across the assessment's change from free to paced breathing
    x = tone_block(pacer, int(100 * FS), int(seconds * FS), 1.0, 1.0)[0]
    s = ToneSettings()
    assert np.abs(np.diff(x)).max() <= 1.02 * _sine_step(s.high_hz, s.peak)
    c = ChimeSettings()
    y = chime_block(pacer, int(100 * FS), int(seconds * FS), 1.0)
    # Overlapping chimes each contribute at most their partials' own steps.
    one = sum(a * _sine_step(k * c.inhale_hz, c.peak / 1.33)
              for a, k in ((1, 1), (0.25, 2.76), (0.08, 5.4)))
    assert np.abs(np.diff(y)).max() <= 2 * one


def test_no_click_when_the_rate_changes():
    pacer = _pacer(rate_bpm=6, inhale_ratio="4:6")
    pacer.set_rate(pacer.breath_start(2), 4.5)
    x = tone_block(pacer, 0, int(40 * FS), 0.0, 1.0)[0]
    s = ToneSettings()
    assert np.abs(np.diff(x[int(FS):])).max() <= 1.02 * _sine_step(s.high_hz, s.peak)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(1, 20_000), min_size=1, max_size=8),
       st.sampled_from(["box", "coherence"]))
def test_blocks_join_into_one_signal(sizes, name):
    pacer = Pacer(load_protocol(name))
    i0 = 3 * FS + 17  # the box's first hold starts at 4 s: fades and holds fall inside
    whole, _ = tone_block(pacer, i0, sum(sizes), 0.5, 1.0)
    parts, phase, i = [], 0.5, i0
    for n in sizes:
        block, phase = tone_block(pacer, i, n, phase, 1.0)
        parts.append(block)
        i += n
    joined = np.concatenate(parts)
    assert np.allclose(joined, whole, rtol=0, atol=1e-9)
    # Chimes, the same way.
    chimes = np.concatenate([chime_block(pacer, i0 + a, n, 1.0)
                             for a, n in zip(np.cumsum([0, *sizes[:-1]]), sizes)])
    assert np.array_equal(chimes, chime_block(pacer, i0, sum(sizes), 1.0))


def test_volume_scales_the_signal():
    pacer = Pacer(load_protocol("coherence"))
    full = tone_block(pacer, 0, 5 * FS, 0.0, 1.0)[0]
    assert np.allclose(tone_block(pacer, 0, 5 * FS, 0.0, 0.25)[0], 0.25 * full)
    assert not np.any(tone_block(pacer, 0, 5 * FS, 0.0, 0.0)[0])
    assert np.allclose(chime_block(pacer, 0, 5 * FS, 0.5), 0.5 * chime_block(pacer, 0, 5 * FS, 1))
    assert np.abs(full).max() <= ToneSettings().peak
    with pytest.raises(ValueError):
        tone_block(pacer, 0, 10, 0.0, 1.5)


def test_free_breathing_is_silent():
    pacer = Pacer(load_protocol("free"))
    assert not np.any(tone_block(pacer, 0, 20 * FS, 0.0, 1.0)[0])
    assert not np.any(chime_block(pacer, 0, 20 * FS, 1.0))


class _Sink:
    def __init__(self):
        self.blocks = []
        self.closed = False

    def write(self, block):
        self.blocks.append(block)

    def close(self):
        self.closed = True


def _session(player, seconds=30):
    pacer = Pacer(load_protocol("box"))
    return Session(SimulatedStrap(SimParams(seed=1), pacer), ScaledClock(None), pacer,
                   duration_s=seconds, listeners=[player])


def test_without_an_audio_device_one_warning_and_the_session_goes_on(caplog):
    def no_device(fs_hz):
        raise SoundUnavailable("no audio output device")

    player = SoundPlayer("tone", 0.5, open_output=no_device, real_time=False)
    with caplog.at_level(logging.WARNING):
        summary = asyncio.run(_session(player).run())
    assert summary.n_beats > 20
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "no audio output device" in warnings[0].getMessage()
    assert "\n" not in warnings[0].getMessage()


def test_the_player_writes_the_generated_sound_ahead_of_the_clock():
    sink = _Sink()
    player = SoundPlayer("chime", 0.8, open_output=lambda fs: sink, real_time=False)
    asyncio.run(_session(player, 20).run())
    played = np.concatenate(sink.blocks)
    assert sink.closed
    assert played.size >= 20 * FS  # caught up with the session's clock, and ahead of it
    pacer = Pacer(load_protocol("box"))
    assert np.allclose(played, chime_block(pacer, 0, played.size, 0.8).astype(np.float32),
                       atol=1e-6)


def test_sound_needs_real_time(caplog):
    sink = _Sink()
    player = SoundPlayer("tone", 0.5, open_output=lambda fs: sink)
    with caplog.at_level(logging.WARNING):
        asyncio.run(_session(player, 10).run())
    assert not sink.blocks
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1
    assert math.isfinite(player.volume)


def test_portaudio_output_plays_queued_blocks_in_order_then_silence():
    class FakeStream:
        def __init__(self, samplerate, channels, dtype, callback):
            assert (samplerate, channels, dtype) == (FS, 1, "float32")
            self.callback = callback
            self.started = self.closed = False

        def start(self):
            self.started = True

        def stop(self):
            pass

        def close(self):
            self.closed = True

    class FakeSd:
        OutputStream = FakeStream

    out = _PortAudioOutput(FakeSd, FS)
    out.write(np.arange(5.0))
    out.write(np.arange(5.0, 8.0))
    buffer = np.full((6, 1), np.nan, dtype=np.float32)
    out._stream.callback(buffer, 6, None, None)
    assert buffer[:, 0].tolist() == [0, 1, 2, 3, 4, 5]
    out._stream.callback(buffer, 6, None, None)
    assert buffer[:, 0].tolist() == [6, 7, 0, 0, 0, 0]
    out.close()
    assert out._stream.closed
