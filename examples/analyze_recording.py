"""Analyse a recording with the research API: artifacts, time, frequency and nonlinear HRV.

    python examples/analyze_recording.py [FILE]

FILE is a biobreath session or an RR text file; without one, a 5-minute simulated session with
1 % ectopic beats is recorded to a temporary file first.
"""

import asyncio
import sys
import tempfile
from pathlib import Path

from biobreath.clock import ScaledClock
from biobreath.core import artifacts, hrv
from biobreath.core.pacer import Pacer
from biobreath.files.protocols import load_protocol
from biobreath.files.readers import read_rr
from biobreath.session import Session
from biobreath.session.recorder import RecordingListener
from biobreath.sim.physiology import SimParams
from biobreath.sim.source import SimulatedStrap


def record_example(path: Path) -> None:
    pacer = Pacer(load_protocol("resonance-5.5"))
    strap = SimulatedStrap(SimParams(seed=11, ectopic_rate=0.01), pacer)
    asyncio.run(Session(strap, ScaledClock(None), pacer, duration_s=300,
                        listeners=[RecordingListener(path)]).run())


def main(path: Path) -> None:
    rec = read_rr(path)
    fixed = artifacts.correct(rec.rr_ms)
    print(f"{path.name}: {rec.rr_ms.size} beats, {fixed.detection.artifact_pct:.1f} % artifacts "
          f"corrected in {fixed.iterations} pass(es)")
    td = hrv.time_domain(fixed.rr_ms)
    fd = hrv.frequency_domain(fixed.rr_ms, detrend="smoothness_priors", smoothness_lambda=500)
    nl = hrv.nonlinear(fixed.rr_ms)
    print(f"  mean HR {td.mean_hr_bpm:.1f} bpm, SDNN {td.sdnn_ms:.1f} ms, "
          f"RMSSD {td.rmssd_ms:.1f} ms")
    print(f"  LF {fd.lf_ms2:.0f} ms² peaking at {fd.lf_peak_hz:.4f} Hz "
          f"({fd.lf_peak_hz * 60:.2f} breaths/min), HF {fd.hf_ms2:.0f} ms², LF/HF {fd.lf_hf:.2f}")
    print(f"  SD1 {nl.sd1_ms:.1f} ms, SD2 {nl.sd2_ms:.1f} ms, DFA α1 {nl.dfa_alpha1:.2f}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as d:
            f = Path(d) / "example.sqlite"
            record_example(f)
            main(f)
