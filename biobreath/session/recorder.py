"""The listener that records a session: every event into its SQLite file as it arrives (numbered
in the order the session received them, so a replay can feed them back exactly), the live verdict
of each beat once it is judged, the pacer's breaths, the session's start and stop, and whose
session it was with their check-ins."""

from __future__ import annotations

from collections import deque
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from biobreath.core.adaptive import RateChange
from biobreath.core.live import BeatVerdict, LiveState
from biobreath.errors import RecordingError
from biobreath.events import (
    AccSamples,
    Battery,
    Beat,
    Contact,
    EcgSamples,
    Event,
    HeartRate,
    Link,
    Marker,
    Notification,
    PacerChange,
    Tick,
    Timing,
)
from biobreath.files.people import Checkin
from biobreath.files.recording import Recorder
from biobreath.session.listener import BreathReport, SessionListener

if TYPE_CHECKING:
    from biobreath.session.session import Session


class RecordingListener(SessionListener):
    """Writes the session it follows to a new file at ``path`` (never an existing one); a session
    that got no beat and no notification leaves no file behind."""

    def __init__(self, path: str | Path, *, person: str = "", before: Checkin | None = None,
                 after: Checkin | None = None) -> None:
        self.recorder = Recorder(path)
        # Whose session (the first strap's wearer) and how they felt before and after it.
        self.person, self.before, self.after = person, before, after
        self._session: Session | None = None
        self._rows: dict[str, deque[int]] = {}  # rows of beats not yet judged, per strap
        self._wearers: dict[str, str] = {}  # who wears which strap, by address, when told
        self._seq = 0

    @property
    def path(self) -> Path:
        return self.recorder.path

    def on_start(self, session: Session) -> None:
        self._session = session
        protocol = session.pacer.protocol
        self.recorder.set_meta(
            source=session.source.metadata(),
            protocol={"name": protocol.name, "file": protocol.source,
                      "allow_extreme_pacing": protocol.allow_extreme_pacing,
                      "steps": [_step_dict(s) for s in protocol.steps]},
            duration_s=session.duration_s, planned_duration_s=session.duration_s,
            parameters={"live": asdict(session.live_params)},
            **({"person": self.person} if self.person else {}),
            **({"checkin_before": self.before.as_meta()} if self.before else {}))
        self.recorder.event(0.0, "session_start")

    def _device(self, address: str) -> str:
        """``address``, registered with the file on first sight (with what the source knows)."""
        if address not in self._rows:
            self._rows[address] = deque()
            info = next((d for d in self._session.source.devices if d.address == address), None)
            first = self.person if len(self._rows) == 1 else ""
            wearer = self._session.wearer(address)
            self.recorder.device_id(info or address, wearer or first)
            if wearer:  # as the session was told, for a replay to say the same
                self._wearers[address] = wearer
                self.recorder.set_meta(wearers=self._wearers)
        return address

    def on_event(self, ev: Event) -> None:
        rec, seq = self.recorder, self._seq
        self._seq += 1
        if isinstance(ev, Tick):
            rec.event(ev.t, "tick", seq=seq)
            return
        if isinstance(ev, Marker):
            rec.event(ev.t, "marker", ev.text, seq=seq)
            rec.commit()  # a therapist's mark is worth a write of its own
            return
        if isinstance(ev, PacerChange):
            rec.event(ev.t, "pacer_change", {"rate_bpm": ev.rate_bpm,
                                             "inhale_ratio": ev.inhale_ratio}, seq=seq)
            rec.commit()
            return
        device = self._device(ev.device)
        if isinstance(ev, Beat):
            self._rows[device].append(
                rec.beat(device, ev.rr_ticks, ev.rr_ms, ev.t, ev.arrival, seq, ev.gap))
        elif isinstance(ev, EcgSamples):
            rec.ecg(device, ev.t0, ev.fs_hz, ev.uv, ev.t, seq)
        elif isinstance(ev, AccSamples):
            rec.acc(device, ev.t0, ev.fs_hz, ev.mg, ev.t, seq)
        elif isinstance(ev, Notification):
            rec.notification(device, ev.t, ev.payload, seq)
        elif isinstance(ev, HeartRate):
            rec.event(ev.t, "heart_rate", ev.bpm, device, seq)
        elif isinstance(ev, Contact):
            rec.event(ev.t, "contact", ev.contact, device, seq)
        elif isinstance(ev, Battery):
            rec.event(ev.t, "battery", ev.percent, device, seq)
        elif isinstance(ev, Link):
            rec.event(ev.t, f"link_{ev.state.value}", ev.detail or None, device, seq)
        elif isinstance(ev, Timing):
            rec.event(ev.t, "timing", {"degraded": ev.degraded,
                                       "uncertainty_ms": ev.uncertainty_ms,
                                       "lateness_ms": ev.lateness_ms}, device, seq)
        rec.maybe_commit()

    def on_idle(self) -> None:
        self.recorder.commit()

    def on_beat(self, device: str, verdict: BeatVerdict, state: LiveState) -> None:
        self.recorder.judge(self._rows[device].popleft(), verdict.artifact, verdict.reason)

    def on_breath(self, report: BreathReport) -> None:
        seg = self._session.pacer.segment(report.t0)
        shape = seg.shape
        self.recorder.event(report.t0, "breath", {
            "n": report.n, "label": seg.label,
            "inhale_s": shape.inhale_s if shape else None,
            "hold_in_s": shape.hold_in_s if shape else None,
            "exhale_s": shape.exhale_s if shape else None,
            "hold_out_s": shape.hold_out_s if shape else None})

    def on_pacer_rate(self, change: RateChange) -> None:
        # Recomputed on replay from the beats, so not part of the replayed stream (no seq).
        self.recorder.event(change.t, "pacer_rate", {
            "rate_bpm": change.rate_bpm, "from_bpm": change.from_bpm,
            "target_bpm": change.target_bpm, "phase_deg": change.phase_deg})

    def on_stop(self, t: float) -> None:
        try:
            self.recorder.event(t, "session_stop")
            self.recorder.set_meta(duration_s=t)  # what it lasted: less than planned if stopped
            if self.after is not None:
                self.recorder.set_meta(checkin_after=self.after.as_meta())
        except RecordingError:
            pass  # a full disk: the file keeps what was committed, and close() still ends it
        finally:
            self.recorder.close()
        # A session that never got a beat (no strap found, stopped at once) leaves no empty file.
        if not self.recorder.discard_if_empty():
            self.saved_path = str(self.recorder.path)


def _step_dict(step) -> dict:
    shape = step.shape
    return {"label": step.label, "duration_s": step.duration_s, "adaptive": step.adaptive,
            "inhale_s": shape.inhale_s if shape else None,
            "hold_in_s": shape.hold_in_s if shape else None,
            "exhale_s": shape.exhale_s if shape else None,
            "hold_out_s": shape.hold_out_s if shape else None,
            "top_up_s": shape.top_up_s if shape else None}
