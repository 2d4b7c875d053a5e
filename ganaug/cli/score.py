"""``ganaug score DATA --out scores.csv``: anomaly scores of real (or any) images, per image."""

from __future__ import annotations

import argparse

from ._common import add_precision, add_root


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "score",
        help="score images with a trained GAN: outliers and likely mislabels",
        description="Score every image of DATA with the GAN (ganaug.AnomalyScorer): higher is "
        "more anomalous. Writes a CSV (index, score, label, best_class) in input order and "
        "prints how many images score above a quantile of the real training scores, and the "
        "labels that another class fits much better.",
    )
    p.add_argument(
        "data",
        help="fashion-mnist | mnist | digits (:test for the test split) | IMAGE_FOLDER | "
        "FILE.h5 | FILE.npz",
    )
    p.add_argument(
        "--model",
        default=None,
        help="a .safetensors model file with an encoder, or a bundled name (default: "
        "fashion-mnist)",
    )
    p.add_argument("--out", required=True, help="the CSV file to write")
    p.add_argument(
        "--labels",
        choices=("given", "best"),
        default="given",
        help="score each image under its given label, or under the class it fits best "
        "(a conditional model; data without labels is always scored under the best class)",
    )
    p.add_argument(
        "--method",
        choices=("complexity", "izif", "combined", "discriminator"),  # anomaly.METHODS (tested)
        default="complexity",
        help="complexity (default): the reconstruction's pixel residual relative to the "
        "image's own fine detail; izif: pixel + discriminator-feature residual (f-AnoGAN); "
        "combined: the pixel residual plus minus D's logit, both standardised on training "
        "images; discriminator: minus D's logit (no encoder needed)",
    )
    p.add_argument(
        "--quantile",
        type=float,
        default=0.99,
        help="the summary counts images above this quantile of the real training scores",
    )
    p.add_argument("--top", type=int, default=0, help="draw the TOP most anomalous images")
    p.add_argument("--grid", default=None, help="PNG for --top: each image beside its rebuild")
    add_root(p)
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    add_precision(p, "scoring")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run(args: argparse.Namespace) -> int:
    from ..anomaly import AnomalyScorer
    from ..anomaly.report import save_worst_grid, summary, write_scores_csv
    from ..data import load_dataset
    from ..sources import load

    if bool(args.top) != bool(args.grid):
        raise ValueError("--top N and --grid FILE.png go together")
    if not 0.0 <= args.quantile <= 1.0:
        raise ValueError(f"expected --quantile in [0, 1], got {args.quantile}")
    gen = load(args.model, device=args.device, precision=args.precision)
    scorer = AnomalyScorer(gen, method=args.method, precision=args.precision)
    scorer.require_encoder()  # before the data is read: say at once how to fit one
    data = load_dataset(args.data, root=args.root)
    # an unconditional model only records the labels
    scores = scorer.score(data.images, data.labels, progress=not args.no_progress)
    if args.labels == "best":
        scores = scores.under_best_class()
    write_scores_csv(args.out, scores)
    print(f"wrote {len(scores)} scores to {args.out}")
    if scorer.meta is not None and scorer.meta.reference.get(args.method):
        threshold, reference = scorer.threshold(args.quantile), "the real training scores"
    else:
        threshold = float(scores.score.quantile(args.quantile))
        reference = "these images' own scores (the model file records no training scores)"
    text = summary(
        scores,
        threshold=threshold,
        quantile=args.quantile,
        reference=reference,
        class_names=gen.class_names,
    )
    print(text)
    if args.top:
        save_worst_grid(args.grid, scorer, data.images, scores, args.top)
        print(f"wrote the {min(args.top, len(scores))} highest scores to {args.grid}")
    return 0
