"""A simulated person: breathing, a resonant cardiovascular loop, and heartbeats.

The model streams in chunks on a fixed time grid (``fs_hz``):

* **Breathing.** A spontaneous breathing oscillator (about 12-15 breaths/min) whose rate and depth
  wander from breath to breath. With a pacer, the person mixes a paced breath (the pacer's volume
  curve, shifted by a slowly wandering phase error and scaled by a wandering depth) with the
  spontaneous one, in proportion to ``fidelity``; free protocol steps are breathed spontaneously.
* **Heart rate.** Lung volume drives heart rate along two paths. The baroreflex loop is a
  second-order band-pass centred on ``resonance_bpm`` (zero phase there), so heart rate swings
  most, and in phase with breathing, when the person breathes at the resonance rate (Vaschillo and
  Lehrer's resonance model of heart-rate variability biofeedback). A direct vagal path
  (respiratory sinus arrhythmia: inhaling withdraws vagal tone, so heart rate rises) is low-pass,
  weakening at fast breathing. Noise through the same resonance gives Mayer-wave-like LF power;
  a slow random drift gives VLF power; a small fast noise gives beat-to-beat scatter.
* **Beats.** An integral pulse frequency modulation (IPFM) generator integrates the heart rate and
  fires a beat each time the integral crosses a whole number of cycles.

All noise comes from one seeded NumPy generator drawn as a (samples x sources) matrix per chunk,
and every filter keeps its state between chunks, so a run split into chunks reproduces one long
run (up to floating-point rounding). The filters are our own NumPy code (:func:`bilinear`,
:func:`iir_filter`, :func:`steady_state`), equal to ``scipy.signal``'s ``bilinear``, ``lfilter``
and ``lfilter_zi`` to rounding: loading ``scipy.signal`` took 2 s of a simulated session's start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True)
class SimParams:
    """Everything the simulated person and strap do; every default is the value shown.

    Person (physiology):
        seed: seeds every random stream (person and strap).
        resonance_bpm: breaths/min at which the baroreflex loop resonates (5.5).
        mean_hr_bpm: mean heart rate (66 bpm).
        fidelity: 0-1, how closely the person follows the pacer (0.9); 1 = exactly, 0 = ignores it.
        spontaneous_rate_bpm: mean spontaneous breathing rate (13.5 breaths/min).
        spontaneous_rate_cv: SD of the log of the spontaneous rate (0.12, about 12 %).
        spontaneous_depth: mean spontaneous tidal volume as a share of a full paced breath (0.5).
        spontaneous_depth_cv: SD of the log of the spontaneous depth (0.2).
        spontaneous_inhale_fraction: inhale share of a spontaneous breath (0.42).
        breath_wander_tau_s: time constant of the breath rate and depth wander (8 s).
        phase_wander_cycles: SD of the paced phase error at fidelity 0, in breaths (0.25); it
            scales with (1 - fidelity).
        phase_wander_tau_s: time constant of the paced phase error (15 s).
        paced_depth_loss: at fidelity 0, how much shallower than the pacer's a paced breath is,
            as a share of a full breath, on average and as SD (0.25); scales with (1 - fidelity).
        paced_weight_tau_s: how quickly the person switches between paced and free breathing (3 s).
        baroreflex_gain_bpm: peak-to-trough heart-rate swing of the resonant loop per full breath
            (volume 0 -> 1 -> 0) at the resonance rate (11 bpm).
        baroreflex_damping: damping ratio of the resonant loop (0.15, Q = 3.3; smaller = sharper
            resonance). At 0.25 the loop's half-power band spanned +/-1.4 breaths/min, nearly the
            whole 4.5-6.5 assessment, so neighbouring rates differed by 2-6 % in swing: flatter
            than the clearly larger oscillation at the resonance rate that paced-breathing
            studies report (Vaschillo, Vaschillo & Lehrer 2006).
        vagal_gain_bpm: peak-to-trough swing of the direct vagal path per full slow breath (7 bpm).
        vagal_cutoff_hz: low-pass corner of the vagal path (0.4 Hz). Vagal effects on heart rate
            act within a beat or two; at 0.15 Hz this path lagged 19-25 degrees near 0.1 Hz and
            put the rate where heart rate and breathing are in phase 0.2-0.45 breaths/min below
            ``resonance_bpm``, where the swing did not peak. At 0.4 Hz its lag and the high-pass
            lead cancel near 0.1 Hz (within 5 degrees over 4.5-6.5 breaths/min), so the person's
            heart rate swings most and is in phase with breathing at ``resonance_bpm``, as
            resonance is defined (Vaschillo et al. 2006; Lehrer 2013).
        vagal_highpass_hz: high-pass corner of the vagal path, so a deeper mean volume does not
            shift the mean heart rate (0.02 Hz).
        mayer_sd_bpm: SD of the noise-driven resonant (Mayer-wave-like) heart-rate fluctuation
            (1.5 bpm).
        vlf_sd_bpm: SD of the slow heart-rate drift (2.5 bpm).
        vlf_tau_s: time constant of the slow drift (60 s).
        beat_noise_sd_bpm: SD of the fast heart-rate noise (2.0 bpm).
        beat_noise_tau_s: time constant of the fast heart-rate noise (0.5 s).
        fs_hz: simulation grid rate (10 Hz).

    Strap (see :mod:`biobreath.sim.emulator`):
        ectopic_rate: fraction of beats that come early (premature beat + compensatory pause) (0).
        ectopic_prematurity: mean fraction of the RR by which a premature beat comes early (0.3;
            drawn uniformly within +/-0.1 of it).
        missed_rate: fraction of beats the strap misses, merging two RRs (0).
        extra_rate: fraction of beats preceded by a spurious detection that splits the RR (0).
        rr_noise_ms: SD of the Gaussian jitter of observed RRs (0 ms); applied as detection-time
            jitter of SD rr_noise_ms / sqrt 2, clipped at 4 SD, so RR sums stay true.
        dropout_rate: fraction of notifications lost in transit, with their RRs (0).
        notify_interval_s: the strap's notification period on its own clock (1 s).
        clock_drift_ppm: how much faster the strap's crystal runs than the computer's (20 ppm).
        latency_min_s, latency_max_s: Bluetooth latency, uniform between them (0.010-0.060 s).
        max_rr_per_notification: RRs a notification holds; older ones beyond it are lost (3).
        battery_percent: the battery level the strap reports (90 %).
        link: how the radio delivers the notifications, a name from
            :data:`biobreath.sim.emulator.LINK_PROFILES` ("ideal": the latency alone).
    """

    seed: int = 0
    resonance_bpm: float = 5.5
    mean_hr_bpm: float = 66.0
    fidelity: float = 0.9
    spontaneous_rate_bpm: float = 13.5
    ectopic_rate: float = 0.0
    missed_rate: float = 0.0
    extra_rate: float = 0.0
    rr_noise_ms: float = 0.0
    dropout_rate: float = 0.0
    spontaneous_rate_cv: float = 0.12
    spontaneous_depth: float = 0.5
    spontaneous_depth_cv: float = 0.2
    spontaneous_inhale_fraction: float = 0.42
    breath_wander_tau_s: float = 8.0
    phase_wander_cycles: float = 0.25
    phase_wander_tau_s: float = 15.0
    paced_depth_loss: float = 0.25
    paced_weight_tau_s: float = 3.0
    baroreflex_gain_bpm: float = 11.0
    baroreflex_damping: float = 0.15
    vagal_gain_bpm: float = 7.0
    vagal_cutoff_hz: float = 0.4
    vagal_highpass_hz: float = 0.02
    mayer_sd_bpm: float = 1.5
    vlf_sd_bpm: float = 2.5
    vlf_tau_s: float = 60.0
    beat_noise_sd_bpm: float = 2.0
    beat_noise_tau_s: float = 0.5
    fs_hz: float = 10.0
    ectopic_prematurity: float = 0.3
    notify_interval_s: float = 1.0
    clock_drift_ppm: float = 20.0
    latency_min_s: float = 0.010
    latency_max_s: float = 0.060
    max_rr_per_notification: int = 3
    battery_percent: int = 90
    link: str = "ideal"

    def __post_init__(self) -> None:
        for name in ("fidelity", "ectopic_rate", "missed_rate", "extra_rate", "dropout_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be 0-1, got {getattr(self, name)!r}")
        if self.ectopic_rate + self.missed_rate + self.extra_rate > 0.5:
            raise ValueError("ectopic_rate + missed_rate + extra_rate must be at most 0.5")
        if not 0.2 <= self.ectopic_prematurity <= 0.5:
            raise ValueError("ectopic_prematurity must be 0.2-0.5")
        for name in ("resonance_bpm", "mean_hr_bpm", "spontaneous_rate_bpm", "fs_hz",
                     "breath_wander_tau_s", "phase_wander_tau_s", "paced_weight_tau_s",
                     "vagal_cutoff_hz", "vagal_highpass_hz", "vlf_tau_s", "beat_noise_tau_s",
                     "baroreflex_damping", "notify_interval_s", "spontaneous_depth"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if not 0.1 <= self.spontaneous_inhale_fraction <= 0.9:
            raise ValueError("spontaneous_inhale_fraction must be 0.1-0.9")
        if not 0 <= self.latency_min_s <= self.latency_max_s:
            raise ValueError("need 0 <= latency_min_s <= latency_max_s")
        if self.max_rr_per_notification < 1:
            raise ValueError("max_rr_per_notification must be at least 1")
        if self.rr_noise_ms < 0:
            raise ValueError("rr_noise_ms must not be negative")


@dataclass(frozen=True, slots=True)
class SimChunk:
    """The model's truth over one stretch of the grid.

    The chunk covers the interval from the previous chunk's last grid time (exclusive) to ``t[-1]``
    (inclusive); ``beat_times`` are the beats (s) in that interval and ``rr_ms`` the true RR (ms)
    ending at each.
    """

    t: np.ndarray
    respiration: np.ndarray
    hr_bpm: np.ndarray
    beat_times: np.ndarray
    rr_ms: np.ndarray


def ipfm_beats(t: np.ndarray, hr_bpm: np.ndarray, phase0: float = 0.0) -> tuple[np.ndarray, float]:
    """Beat times (s) of an integral pulse frequency modulation generator.

    The heart rate ``hr_bpm`` (bpm, > 0) is taken as piecewise linear between the times ``t`` (s),
    so the integrated phase (cycles) is piecewise quadratic and each crossing of a whole number is
    solved exactly. ``phase0`` is the phase (cycles) at ``t[0]``; a beat fires whenever the phase
    reaches an integer above ``phase0``. Returns the beat times and the phase at ``t[-1]``.
    """
    t = np.asarray(t, dtype=float)
    f = np.asarray(hr_bpm, dtype=float) / 60.0
    if t.size < 2:
        return np.empty(0), float(phase0)
    dt = np.diff(t)
    m = np.empty(t.size)
    m[0] = phase0
    np.cumsum(0.5 * (f[:-1] + f[1:]) * dt, out=m[1:])
    m[1:] += phase0
    k = np.arange(math.floor(phase0) + 1, math.floor(m[-1]) + 1, dtype=float)
    i = np.searchsorted(m, k, side="left") - 1
    c = k - m[i]
    h0 = f[i]
    slope = (f[i + 1] - h0) / dt[i]
    # Root of h0*tau + slope*tau^2/2 = c, in the form that stays accurate when slope -> 0.
    tau = 2.0 * c / (h0 + np.sqrt(np.maximum(h0 * h0 + 2.0 * slope * c, 0.0)))
    return t[i] + tau, float(m[-1])


def breath_shape(frac: np.ndarray, inhale_fraction: float) -> np.ndarray:
    """Lung volume 0-1 at breath fractions ``frac`` (0-1): a raised cosine in, then out."""
    frac = np.asarray(frac, dtype=float)
    inh = frac < inhale_fraction
    return np.where(inh,
                    0.5 - 0.5 * np.cos(np.pi * frac / inhale_fraction),
                    0.5 + 0.5 * np.cos(np.pi * (frac - inhale_fraction) / (1.0 - inhale_fraction)))


def bilinear(b: np.ndarray, a: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Digital filter (b, a) in powers of 1/z, ``a[0] = 1``, from the analog filter (b, a) in
    descending powers of s, by the bilinear transform ``s = 2 fs (1 - 1/z) / (1 + 1/z)`` at
    ``fs`` (Hz)."""
    b, a = np.atleast_1d(np.asarray(b, float)), np.atleast_1d(np.asarray(a, float))
    order = max(b.size, a.size) - 1

    def substituted(c: np.ndarray) -> np.ndarray:
        # c_k s^(order-k), times (1 + 1/z)^order: c_k (2 fs)^(order-k) (1-1/z)^(order-k) (1+1/z)^k
        c = np.r_[np.zeros(order + 1 - c.size), c]
        out = np.zeros(order + 1)
        for k, ck in enumerate(c):
            term = np.ones(1)
            for _ in range(order - k):
                term = np.convolve(term, [1.0, -1.0])
            for _ in range(k):
                term = np.convolve(term, [1.0, 1.0])
            out += ck * (2.0 * fs) ** (order - k) * term
        return out

    bz, az = substituted(b), substituted(a)
    return bz / az[0], az / az[0]


def steady_state(b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """The state of :func:`iir_filter` after a long steady input of 1 (``a[0] = 1``, equal
    lengths): the fixed point of its state recursion ``z = A z + B``."""
    order = a.size - 1
    transition = np.eye(order, k=1)
    transition[:, 0] = -a[1:]
    return np.linalg.solve(np.eye(order) - transition, b[1:] - a[1:] * b[0])


def iir_filter(b: np.ndarray, a: np.ndarray, x: np.ndarray,
               zi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Filter ``x`` through (b, a) (``a[0] = 1``, equal lengths, order 1 or 2) from state ``zi``;
    returns the output and the final state (the transposed direct form II recursion of
    ``scipy.signal.lfilter``, with its state).

    A recursion runs sample by sample, here in plain Python floats: a chunk of the model is
    10-100 samples (a 12-minute run at once, 7200, takes about 5 ms per filter). A prefix scan
    over powers of the state matrix vectorised it but lost two digits near the resonance (poles
    at 0.993).
    """
    if a.size not in (2, 3):
        raise ValueError(f"iir_filter runs order 1 or 2, not {a.size - 1}")
    b0, b1, a1 = float(b[0]), float(b[1]), float(a[1])
    z0 = float(zi[0])
    out = []
    if a.size == 2:  # the second state stays 0: leaving it out changes at most a zero's sign
        for v in np.asarray(x, float).tolist():
            y = b0 * v + z0
            z0 = b1 * v - a1 * y
            out.append(y)
        return np.array(out), np.array([z0])
    b2, a2, z1 = float(b[2]), float(a[2]), float(zi[1])
    for v in np.asarray(x, float).tolist():
        y = b0 * v + z0
        z0 = b1 * v + z1 - a1 * y
        z1 = b2 * v - a2 * y
        out.append(y)
    return np.array(out), np.array([z0, z1])


class _Filter:
    """An IIR filter whose state carries over between calls, so chunks join seamlessly."""

    def __init__(self, b: np.ndarray, a: np.ndarray, y0: float = 0.0) -> None:
        b, a = np.atleast_1d(np.asarray(b, float)), np.atleast_1d(np.asarray(a, float))
        n = max(b.size, a.size)
        self.b = np.concatenate([b, np.zeros(n - b.size)]) / a[0]
        self.a = np.concatenate([a, np.zeros(n - a.size)]) / a[0]
        # State as if the input had been steady at the level that holds the output at y0.
        dc = self.b.sum() / self.a.sum()
        self.zi = steady_state(self.b, self.a) * (y0 / dc if dc else 0.0)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y, self.zi = iir_filter(self.b, self.a, x, self.zi)
        return y


def _unit_variance(b: np.ndarray, a: np.ndarray, n: int) -> np.ndarray:
    """``b`` scaled so that (b, a) turns white noise of unit variance into unit variance (from
    the first ``n`` samples of its impulse response)."""
    h = _Filter(b, a)(np.r_[1.0, np.zeros(n)])
    return np.asarray(b, float) / math.sqrt(float(np.sum(h * h)))


def _ou(tau_s: float, fs: float, order: int = 1, y0: float = 0.0) -> _Filter:
    """Unit-variance low-pass noise shaper (``order`` cascaded poles at time constant ``tau_s``)."""
    p = math.exp(-1.0 / (tau_s * fs))
    a = np.array([1.0])
    for _ in range(order):
        a = np.convolve(a, [1.0, -p])
    return _Filter(_unit_variance(np.ones(1), a, int(20 * order * tau_s * fs) + 10), a, y0)


def bandpass(f0_hz: float, damping: float, gain: float, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Discrete second-order band-pass (b, a) at ``fs`` (Hz): peak gain ``gain`` and zero phase at
    ``f0_hz``, bandwidth set by the damping ratio ``damping`` (bilinear transform)."""
    w0 = 2 * math.pi * f0_hz
    bw = 2 * damping * w0
    return bilinear([gain * bw, 0.0], [1.0, bw, w0 * w0], fs)


def resonance_filter(params: SimParams) -> tuple[np.ndarray, np.ndarray]:
    """The baroreflex loop (b, a) on the grid: bpm per unit lung-volume swing, gain
    ``baroreflex_gain_bpm`` and zero phase at ``resonance_bpm``."""
    return bandpass(params.resonance_bpm / 60.0, params.baroreflex_damping,
                    params.baroreflex_gain_bpm, params.fs_hz)


def vagal_filter(params: SimParams) -> tuple[np.ndarray, np.ndarray]:
    """Discrete direct vagal path (b, a): high-pass at ``vagal_highpass_hz`` times low-pass at
    ``vagal_cutoff_hz``, pass-band gain ``vagal_gain_bpm`` (bpm per unit volume swing)."""
    wl = 2 * math.pi * params.vagal_cutoff_hz
    wh = 2 * math.pi * params.vagal_highpass_hz
    return bilinear([params.vagal_gain_bpm * wl, 0.0], np.convolve([1.0, wh], [1.0, wl]),
                    params.fs_hz)


def _lowpass(tau_s: float, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """First-order unity-gain low-pass with time constant ``tau_s`` (s) at ``fs`` (Hz)."""
    p = math.exp(-1.0 / (tau_s * fs))
    return np.array([1.0 - p]), np.array([1.0, -p])


_NOISE_SOURCES = 7  # breath rate, breath depth, paced phase error, paced depth, Mayer, VLF, fast


@dataclass(slots=True)
class _Carry:
    """What the model remembers between chunks."""

    n: int = 0                       # index of the next grid sample
    breath_phase: float = 0.0        # spontaneous breathing phase (cycles, kept in 0-1)
    beat_phase: float = 0.0          # IPFM phase (cycles, kept in 0-1)
    last_t: float = math.nan         # last grid time
    last_hr: float = math.nan        # heart rate at last_t (bpm)
    last_beat: float = math.nan      # time of the last beat (s)
    filters: dict[str, _Filter] = field(default_factory=dict)


class PhysiologyModel:
    """The simulated person; :meth:`advance` continues the simulation in chunks.

    ``pacer`` needs ``phase(t)`` (breaths) and ``volume(t)`` (0-1, NaN where breathing is free),
    both vectorised over arrays of session times (s); ``None`` means spontaneous breathing.
    """

    def __init__(self, params: SimParams = SimParams(), pacer=None) -> None:
        self.params = params
        self.pacer = pacer
        p = params
        fs = p.fs_hz
        self._rng = np.random.default_rng(np.random.SeedSequence(p.seed).spawn(2)[0])
        y0 = self._rng.standard_normal(3)
        # Mayer waves: noise through the same resonance as the baroreflex loop, unit variance.
        mb, ma = bandpass(p.resonance_bpm / 60.0, p.baroreflex_damping, 1.0, fs)
        mayer = _Filter(_unit_variance(mb, ma, int(200 * fs)), ma)
        self._c = _Carry(
            breath_phase=float(self._rng.random()),
            beat_phase=float(self._rng.random()),
            filters={
                "rate": _ou(p.breath_wander_tau_s, fs, y0=y0[0]),
                "depth": _ou(p.breath_wander_tau_s, fs, y0=y0[1]),
                "phase": _ou(p.phase_wander_tau_s, fs, order=2),
                "paced_depth": _ou(p.breath_wander_tau_s, fs),
                "weight": _Filter(*_lowpass(p.paced_weight_tau_s, fs)),
                "mayer": mayer,
                "vlf": _ou(p.vlf_tau_s, fs, y0=y0[2]),
                "fast": _ou(p.beat_noise_tau_s, fs),
                "baro": _Filter(*resonance_filter(p)),
                "vagal": _Filter(*vagal_filter(p)),
            })

    def advance(self, t_end: float) -> SimChunk:
        """Simulate the grid samples after the last chunk up to ``t_end`` (s) inclusive."""
        p, c, f = self.params, self._c, self._c.filters
        fs = p.fs_hz
        n_end = math.floor(t_end * fs + 1e-9) + 1
        n = max(0, n_end - c.n)
        if n == 0:
            e = np.empty(0)
            return SimChunk(e, e, e, e, e)
        t = (c.n + np.arange(n)) / fs
        c.n = n_end
        z = self._rng.standard_normal((n, _NOISE_SOURCES))

        rate_hz = p.spontaneous_rate_bpm / 60.0 * np.exp(p.spontaneous_rate_cv * f["rate"](z[:, 0]))
        phase = c.breath_phase + np.cumsum(rate_hz) / fs
        c.breath_phase = float(phase[-1] % 1.0)
        depth = p.spontaneous_depth * np.exp(p.spontaneous_depth_cv * f["depth"](z[:, 1]))
        volume = np.minimum(depth, 1.0) * breath_shape(phase % 1.0, p.spontaneous_inhale_fraction)

        # Drawn even without a pacer, so the noise streams do not depend on it.
        lapse = 1.0 - p.fidelity
        lag_cycles = lapse * p.phase_wander_cycles * f["phase"](z[:, 2])
        shallower = lapse * p.paced_depth_loss * (1.0 + f["paced_depth"](z[:, 3]))
        if self.pacer is not None:
            h = 0.5 / fs
            pacer_rate = (np.asarray(self.pacer.phase(t + h))
                          - np.asarray(self.pacer.phase(t - h))) / (2 * h)
            # The person's breath runs lag_cycles behind the pacer: the pacer's curve, delayed.
            target = np.asarray(self.pacer.volume(t - lag_cycles / pacer_rate), dtype=float)
            paced = np.isfinite(target)
            weight = f["weight"](p.fidelity * paced)
            paced_volume = np.clip(1.0 - shallower, 0.2, 1.0) * np.where(paced, target, 0.0)
            volume = weight * paced_volume + (1.0 - weight) * volume

        hr = (p.mean_hr_bpm + f["baro"](volume) + f["vagal"](volume)
              + p.mayer_sd_bpm * f["mayer"](z[:, 4]) + p.vlf_sd_bpm * f["vlf"](z[:, 5])
              + p.beat_noise_sd_bpm * f["fast"](z[:, 6]))
        # A heart cannot stop or race without limit, whatever the noise does.
        hr = np.clip(hr, 25.0, 220.0)

        if math.isnan(c.last_t):
            tt, hh = t, hr
            c.last_beat = t[0] - c.beat_phase * 60.0 / hr[0]
        else:
            tt, hh = np.concatenate(([c.last_t], t)), np.concatenate(([c.last_hr], hr))
        beats, end_phase = ipfm_beats(tt, hh, c.beat_phase)
        c.beat_phase = end_phase - math.floor(end_phase)
        c.last_t, c.last_hr = float(t[-1]), float(hr[-1])
        rr_ms = np.diff(np.concatenate(([c.last_beat], beats))) * 1000.0
        if beats.size:
            c.last_beat = float(beats[-1])
        return SimChunk(t, volume, hr, beats, rr_ms)
