"""What ``ganaug score`` writes: the per-image CSV, the printed summary and the grid of the most
anomalous images beside their reconstructions."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import torch

from .._files import replacing
from .scorer import AnomalyScorer, Scores

__all__ = ["write_scores_csv", "summary", "save_worst_grid", "CSV_COLUMNS"]

CSV_COLUMNS = ("index", "score", "label", "best_class")


def write_scores_csv(path: str | os.PathLike, scores: Scores) -> Path:
    """One row per image, in input order: index, score, label (-1: none), best_class."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = zip(
        scores.score.tolist(), scores.labels.tolist(), scores.best_class.tolist(), strict=True
    )
    with replacing(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for i, (s, y, b) in enumerate(rows):
            w.writerow((i, f"{s:.6g}", y, b))
    return path


def summary(
    scores: Scores,
    *,
    threshold: float,
    quantile: float,
    reference: str,
    class_names: list[str],
    top: int = 10,
) -> str:
    """Lines for the terminal: how many images score above ``threshold``, and the strongest
    disagreements between a given label and the best-fitting class."""
    n = len(scores)
    above = int((scores.score > threshold).sum())
    lines = [
        f"{n} images scored; {above} ({100 * above / n:.1f}%) above {threshold:.4g}, the "
        f"{quantile:g}-quantile of {reference}"
    ]
    if not scores.has_mislabel:
        return "\n".join(lines)
    margin = scores.mislabel
    disagree = (scores.best_class != scores.labels).nonzero().squeeze(1)
    lines.append(
        f"{disagree.numel()} images ({100 * disagree.numel() / n:.1f}%) fit another class "
        f"better than their label"
    )
    if disagree.numel():
        order = disagree[margin[disagree].argsort(descending=True)][:top]
        lines.append("most suspicious labels (index: given -> best fit, score margin):")
        for i in order.tolist():
            given, best = int(scores.labels[i]), int(scores.best_class[i])
            lines.append(
                f"  {i}: {class_names[given]} -> {class_names[best]} ({float(margin[i]):.3g})"
            )
    return "\n".join(lines)


def save_worst_grid(
    path: str | os.PathLike,
    scorer: AnomalyScorer,
    images: torch.Tensor,
    scores: Scores,
    top: int,
) -> Path:
    """The ``top`` highest-scoring images, each beside its reconstruction under the class it was
    scored with (the image alone for the discriminator method without an encoder)."""
    from torchvision.utils import save_image

    if top < 1:
        raise ValueError(f"expected --top >= 1, got {top}")
    order = scores.score.argsort(descending=True)[: min(top, len(scores))]
    x = images[order].cpu()
    tiles = [x]
    if scorer.fitted:
        cls = scores.scored_class[order] if scorer.num_classes else None
        tiles.append(scorer.reconstruct(x, cls))
    pairs = torch.stack(tiles, dim=1).flatten(0, 1)  # image, reconstruction, image, ...
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(pairs.float() / 255.0, path, nrow=8 * len(tiles), padding=2)
    return path
