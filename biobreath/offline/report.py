"""The analysis report figure: tachogram with artifacts, spectrum with bands, Poincaré plot.

Drawn with matplotlib's non-interactive Agg backend, so it works without a display.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

from biobreath.errors import BiobreathError
from biobreath.offline.analysis import FileAnalysis

BAND_COLOURS = {"VLF": "#d9d9d9", "LF": "#9ecae1", "HF": "#fdd0a2"}


@contextlib.contextmanager
def missing_glyphs_as_boxes() -> Iterator[None]:
    """Draw a character the font lacks (a name or a note in another script) as the box
    matplotlib draws, without its warning for each: a line the user cannot act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Glyph .* missing from font", UserWarning)
        yield


def plot_report(a: FileAnalysis, path: str | Path, *, dpi: int = 200) -> Path:
    """Write the report figure for one analysis to ``path`` (PNG, PDF or SVG by suffix)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    rr = a.correction.detection if a.correction is not None else None
    fig = plt.figure(figsize=(11, 7.5), layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=(1, 1.15))
    ax_t = fig.add_subplot(grid[0, :])
    ax_f = fig.add_subplot(grid[1, 0])
    ax_p = fig.add_subplot(grid[1, 1])

    # Tachogram: the recorded intervals, the artifacts found, and the corrected NN series.
    raw_t = a.raw_time_s
    ax_t.plot(raw_t / 60, a.raw_rr_ms, color="#bbbbbb", lw=0.8, label="RR as recorded")
    ax_t.plot(a.nn_time_s / 60, a.nn_ms, color="#08519c", lw=1.0, label="NN (corrected)")
    if rr is not None and rr.n_artifacts:
        m = rr.kinds != 0
        ax_t.scatter(raw_t[m] / 60, a.raw_rr_ms[m], s=18, color="#e6550d", zorder=3,
                     label=f"artifacts ({a.artifact_pct:.1f} %)")
    ax_t.set(xlabel="time (min)", ylabel="RR interval (ms)")
    # A file name is drawn as written: two "$" in it are not mathematics.
    ax_t.set_title(f"{a.path.name}: {a.n_beats} beats, {a.duration_s / 60:.1f} min", loc="left",
                   parse_math=False)
    ax_t.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False, ncols=3)

    f = a.hrv.frequency
    fp = f.parameters
    if f.freq_hz.size:
        m = f.freq_hz <= 0.5
        for name, (lo, hi) in (("VLF", fp.vlf), ("LF", fp.lf), ("HF", fp.hf)):
            ax_f.axvspan(lo, hi, color=BAND_COLOURS[name], alpha=0.6, lw=0)
            ax_f.text((lo + hi) / 2, 0.97, name, transform=ax_f.get_xaxis_transform(),
                      ha="center", va="top", fontsize=8)
        ax_f.plot(f.freq_hz[m], f.psd_ms2_hz[m], color="black", lw=1.0)
        ax_f.set_xlim(0, 0.5)
    ax_f.set(xlabel="frequency (Hz)", ylabel="PSD (ms²/Hz)",
             title=f"{fp.method.capitalize()} spectrum: LF {f.lf_ms2:.0f} ms², "
                   f"HF {f.hf_ms2:.0f} ms², LF/HF {f.lf_hf:.2f}")

    nn = a.nn_ms
    n = a.hrv.nonlinear
    ax_p.scatter(nn[:-1], nn[1:], s=4, color="#08519c", alpha=0.5, lw=0)
    lo, hi = float(nn.min()) - 20, float(nn.max()) + 20
    ax_p.plot([lo, hi], [lo, hi], color="#888888", lw=0.6)
    ax_p.set(xlim=(lo, hi), ylim=(lo, hi), aspect="equal", xlabel="RR$_i$ (ms)",
             ylabel="RR$_{i+1}$ (ms)",
             title=f"Poincaré: SD1 {n.sd1_ms:.1f} ms, SD2 {n.sd2_ms:.1f} ms")
    try:
        with missing_glyphs_as_boxes():
            fig.savefig(path, dpi=dpi)
    except (OSError, ValueError) as e:
        raise BiobreathError(f"cannot write the plot {path}: {e}") from None
    finally:
        plt.close(fig)
    return path
