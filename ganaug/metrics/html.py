"""``evaluate(..., report=DIR)``: a self-contained HTML page with the figures and the pictures.

``DIR/index.html`` and its PNGs beside it: no server, no internet, nothing from a CDN. The
headline table with a one-line reading of each figure; per class, samples beside real images;
32 samples each beside their 3 nearest training images (domain features) with the distances;
a per-class chart (class accuracy, within-class recall and coverage, copy rate); and, given a
training run folder, the FD / recall / coverage curves from its ``log.csv`` with the selected
step marked. Charts use matplotlib (the ``report`` extra).
"""

from __future__ import annotations

import csv
import html
import math
import os
from pathlib import Path
from typing import Any

import torch

from .report import EvalReport

__all__ = ["write_report", "write_run_page", "readings"]

_STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 4px 10px; text-align: left; vertical-align: middle; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { image-rendering: pixelated; }
.pair img { width: 320px; }
.nn img { height: 64px; }
.note { color: #666; }
"""


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError(
            "the HTML report draws its charts with matplotlib: pip install 'ganaug[report]'"
        ) from e
    return plt


def readings(r: EvalReport) -> list[tuple[str, str, str]]:
    """(measure, value, one-line reading) for each headline figure that was measured."""
    rows = []

    def add(name: str, value: float | None, fmt: str, text: str) -> None:
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            rows.append((name, format(value, fmt), text))

    add(
        "FD",
        r.fd,
        ".3f",
        "Frechet distance in the domain features: 0 for the real distribution "
        "itself; a few units for a close match, tens for visible gaps",
    )
    if r.kid_mean is not None:
        add("KID", r.kid_mean, ".4g", f"kernel distance (+- {r.kid_std:.2g}): near 0 is a match")
    add(
        "precision",
        r.precision,
        ".4f",
        f"{_pct(r.precision)} of the samples look like some real image (fidelity)",
    )
    add("recall", r.recall, ".4f", _recall_text(r.recall))
    add(
        "density",
        r.density,
        ".4f",
        "about 1 when samples sit where real images are dense; "
        "above 1: crowded on the common modes",
    )
    add(
        "coverage",
        r.coverage,
        ".4f",
        f"{_pct(r.coverage)} of real images have a sample in their neighbourhood",
    )
    add(
        "within-class recall",
        r.class_recall,
        ".4f",
        "the same inside each class: near 0 means "
        "one prototype per class, however good the other figures look",
    )
    add("within-class coverage", r.class_coverage, ".4f", "coverage inside each class")
    add(
        "class accuracy",
        r.class_accuracy,
        ".4f",
        f"the domain classifier puts {_pct(r.class_accuracy)} "
        "of the samples in the class they were made for",
    )
    add("copy rate", r.copy_rate, ".4f", _copy_text(r.copy_rate))
    add(
        "NN distance ratio",
        r.nn_ratio,
        ".3f",
        "median distance of a sample to its nearest "
        "training image, over the same for real held-out images: 1 = as novel as new real "
        "images, near 0 = copies",
    )
    if r.cas is not None:
        gap = (
            ""
            if r.cas_real_baseline is None
            else (
                f"; {100 * (r.cas - r.cas_real_baseline):+.1f} points against the same classifier "
                f"trained on as many real images ({r.cas_real_baseline:.4f})"
            )
        )
        add(
            "CAS",
            r.cas,
            ".4f",
            f"a classifier trained on samples alone scores {_pct(r.cas)} on real test images{gap}",
        )
    return rows


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _recall_text(x: float | None) -> str:
    if x is None:
        return ""
    verdict = (
        "the samples cover almost none of the real variety"
        if x < 0.05
        else "the samples cover part of the real variety"
        if x < 0.5
        else "the samples cover most of the real variety"
    )
    return f"recall {x:.4f}: {verdict} ({_pct(x)} of real images fall inside the samples' manifold)"


def _copy_text(x: float | None) -> str:
    if x is None:
        return ""
    verdict = (
        "no sign of copying"
        if x < 0.03
        else "some samples are near-copies"
        if x < 0.2
        else ("many samples are near-copies of training images")
    )
    return (
        f"{_pct(x)} of samples are nearer a training image than 99% of real held-out images "
        f"are (1% for new real images): {verdict}"
    )


def _save_grid(images: torch.Tensor, path: Path, nrow: int) -> None:
    from torchvision.utils import save_image

    save_image(images.float() / 255.0, str(path), nrow=nrow, padding=1, pad_value=1.0)


def write_report(
    out_dir: str | os.PathLike,
    report: EvalReport,
    *,
    samples: Any,
    train: Any,
    neighbours: tuple[torch.Tensor, torch.Tensor] | None = None,
    neighbour_rows: torch.Tensor | None = None,
    run_dir: str | os.PathLike | None = None,
    selected_step: int | None = None,
    per_class: int = 16,
) -> Path:
    """Write ``out_dir/index.html`` and its PNGs; returns the page's path.

    Args:
        report: the measured figures.
        samples: the evaluated ``Samples``; train: the real training ``ImageData``.
        neighbours: (distances (32, 3), indices (32, 3) into ``train``) of the sample rows
            ``neighbour_rows`` (32,).
        run_dir: a ``ganaug train`` run folder for the curves; selected_step: its kept step.
    """
    plt = _pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>ganaug eval: {html.escape(report.source)}</title><style>{_STYLE}</style>",
        "</head><body>",
        f"<h1>ganaug eval</h1><p>{html.escape(report.source)}<br>against "
        f"{html.escape(report.data)}, {report.n} samples, {report.n_real} real images, "
        f"seed {report.seed}, {html.escape(report.feature_space)}</p>",
        "<h2>Figures</h2><table><tr><th>measure</th><th>value</th><th>reading</th></tr>",
    ]
    for name, value, text in readings(report):
        parts.append(
            f"<tr><td>{html.escape(name)}</td><td class='num'>{value}</td>"
            f"<td>{html.escape(text)}</td></tr>"
        )
    parts.append("</table>")
    parts += [f"<p class='note'>note: {html.escape(n)}</p>" for n in report.notes]
    if samples.conditional and train.labels is not None:
        parts += _class_section(out, report, samples, train, per_class, plt)
    elif len(samples.images):
        _save_grid(samples.images[:64], out / "samples.png", 8)
        _save_grid(train.images[:64], out / "real.png", 8)
        parts.append(
            "<h2>Samples and real images</h2><div class='pair'>"
            "<img src='samples.png' alt='samples'> <img src='real.png' alt='real'></div>"
        )
    if neighbours is not None and neighbour_rows is not None:
        parts += _neighbour_section(out, samples, train, neighbours, neighbour_rows)
    if run_dir is not None and (Path(run_dir) / "log.csv").exists():
        parts += _curve_section(out, Path(run_dir) / "log.csv", selected_step)
    parts.append("</body></html>")
    page = out / "index.html"
    page.write_text("\n".join(parts), encoding="utf-8")
    return page


def _class_section(
    out: Path, report: EvalReport, samples: Any, train: Any, per_class: int, plt: Any
) -> list[str]:
    names = train.class_names or [str(c) for c in range(samples.num_classes)]
    parts = ["<h2>Per class: samples (left) and real training images (right)</h2><table>"]
    for c, name in enumerate(names):
        fake_c = samples.images[samples.labels == c][:per_class]
        real_c = train.images[train.labels == c][:per_class]
        if not len(fake_c) or not len(real_c):
            continue
        _save_grid(fake_c, out / f"class_{c}_samples.png", 8)
        _save_grid(real_c, out / f"class_{c}_real.png", 8)
        row = next((r for r in report.classes if r["class"] == c), {})
        figures = ", ".join(
            f"{k} {row[k]:.3f}"
            for k in ("assigned", "recall", "coverage", "copy_rate", "nn_ratio")
            if row.get(k) is not None
        )
        parts.append(
            f"<tr><td>{c} {html.escape(name)}<br><span class='note'>{figures}</span></td>"
            f"<td class='pair'><img src='class_{c}_samples.png' alt='samples of {c}'></td>"
            f"<td class='pair'><img src='class_{c}_real.png' alt='real images of {c}'></td></tr>"
        )
    parts.append("</table>")
    keys = [
        k
        for k in ("assigned", "recall", "coverage", "copy_rate")
        if any(r.get(k) is not None for r in report.classes)
    ]
    if keys:
        fig, ax = plt.subplots(figsize=(10, 3.6))
        width = 0.8 / len(keys)
        for j, k in enumerate(keys):
            ax.bar(
                [c + j * width for c in range(len(report.classes))],
                [r.get(k) or 0.0 for r in report.classes],
                width,
                label={
                    "assigned": "class accuracy",
                    "recall": "within-class recall",
                    "coverage": "within-class coverage",
                    "copy_rate": "copy rate",
                }[k],
            )
        ax.set_xticks([c + 0.4 - width / 2 for c in range(len(report.classes))])
        ax.set_xticklabels([r["name"] for r in report.classes], rotation=30, ha="right")
        ax.set_ylim(0, 1.05)
        ax.legend(ncol=len(keys), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 1.18))
        fig.tight_layout()
        fig.savefig(out / "classes.png", dpi=90)
        plt.close(fig)
        parts.append("<h2>Per-class figures</h2><img src='classes.png' alt='per-class chart'>")
    return parts


def _neighbour_section(
    out: Path, samples: Any, train: Any, neighbours: tuple, rows: torch.Tensor
) -> list[str]:
    dist, idx = neighbours
    parts = [
        "<h2>Nearest training images</h2><p>Each sample (left) beside its 3 nearest training "
        "images in the domain features, with the distances. Copies would sit at distance 0.</p>"
        "<table class='nn'>"
    ]
    for j, row in enumerate(rows.tolist()):
        strip = torch.cat([samples.images[row : row + 1], train.images[idx[j]]])
        _save_grid(strip, out / f"nn_{j:02d}.png", 4)
        d = ", ".join(f"{v:.2f}" for v in dist[j].tolist())
        parts.append(
            f"<tr><td>sample {row}</td><td><img src='nn_{j:02d}.png' alt='sample {row} and "
            f"its nearest training images'></td><td class='num'>{d}</td></tr>"
        )
    parts.append("</table>")
    return parts


def _curve_section(out: Path, log: Path, selected: int | None) -> list[str]:
    with open(log, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("fd")]
    if not rows:
        return ["<p class='note'>the run's log.csv has no evaluations (--eval-every)</p>"]
    plt = _pyplot()
    steps = [int(r["step"]) for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.4))
    a.plot(steps, [float(r["fd"]) for r in rows], marker="o")
    a.set_yscale("log")
    a.set_title("FD (selection samples)")
    for key in ("recall", "coverage"):
        values = [float(r[key]) if r.get(key) else math.nan for r in rows]
        b.plot(steps, values, marker="o", label=key)
    b.set_ylim(0, 1)
    b.legend()
    b.set_title("recall / coverage")
    for ax in (a, b):
        ax.set_xlabel("step")
        if selected is not None:
            ax.axvline(selected, color="red", linestyle="--", label="selected")
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=90)
    plt.close(fig)
    kept = f", selected step {selected} (red)" if selected is not None else ""
    return [
        f"<h2>Training curves</h2><p>{html.escape(str(log))}{kept}</p>",
        "<img src='curves.png' alt='training curves'>",
    ]


def write_run_page(run_dir: str | os.PathLike, *, selected_step: int | None, done: int) -> Path:
    """``run_dir/index.html``: a training run's curves, its sample grids over time and the
    selected step (``ganaug train`` writes it at the end; the curves need matplotlib)."""
    run = Path(run_dir)
    page_dir = run / "page"
    page_dir.mkdir(parents=True, exist_ok=True)
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>ganaug train: {html.escape(run.name)}</title><style>{_STYLE}</style>",
        "</head><body>",
        f"<h1>ganaug train: {html.escape(run.name)}</h1>",
        f"<p>{done} steps; exported: "
        + (
            f"the evaluation of step {selected_step}"
            if selected_step is not None
            else "the last step (no evaluation selected one)"
        )
        + "</p>",
    ]
    if (run / "log.csv").exists():
        curves = _curve_section(page_dir, run / "log.csv", selected_step)
        parts += [c.replace("src='curves.png'", "src='page/curves.png'") for c in curves]
    grids = sorted((run / "samples").glob("step_*.png"))
    if grids:
        parts.append("<h2>Samples over training (one column per class)</h2><table>")
        for g in grids[:: max(1, len(grids) // 12)] + ([grids[-1]] if len(grids) > 12 else []):
            step = int(g.stem.split("_")[1])
            mark = " (selected)" if step == selected_step else ""
            parts.append(
                f"<tr><td>step {step}{mark}</td><td class='pair'>"
                f"<img src='samples/{g.name}' alt='samples at step {step}'></td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    page = run / "index.html"
    page.write_text("\n".join(parts), encoding="utf-8")
    return page
