"""``ganaug eval (--model MODEL | --samples FILE.h5) --data DATA``: FD/KID, PRDC, classes, CAS."""

from __future__ import annotations

import argparse

from ._common import add_cache_dir, add_precision, add_root


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "eval",
        help="measure synthetic data against real data (FD, KID, PRDC, per class, CAS)",
        description="Evaluate a model's samples (or an exported samples file) against real "
        "data: Frechet distance and KID in a named feature space, precision/recall, "
        "density/coverage, the per-class report, the copy rate and CAS. Prints a table; --json "
        "writes JSON, --report an HTML page. Time: with --n 10000 on a CPU, several minutes, "
        "most of it CAS (two classifiers trained; --no-cas skips it), plus a few minutes the "
        "first time a data set's domain classifier is trained (then cached).",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="a .safetensors model file or bundled name")
    src.add_argument("--samples", help="an HDF5 samples file (/images (N,H,W,C), /labels)")
    p.add_argument(
        "--data",
        required=True,
        help="real data: fashion-mnist, mnist, an image folder, or an .h5/.npz with images "
        "and labels (its training split is the reference and trains the domain classifier)",
    )
    p.add_argument(
        "--test-data",
        default=None,
        help="the real test split for CAS (default: the named dataset's test split, "
        "else the last sixth of --data, held out)",
    )
    p.add_argument("--n", type=int, default=10_000, help="number of samples (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="sample stream and choices (default 0)")
    p.add_argument(
        "--labels", default="balanced", help="label spec of a conditional model (default balanced)"
    )
    p.add_argument(
        "--filter",
        default=None,
        help="evaluate filtered samples of --model: drs[:Q], confidence[:T] (its domain "
        "classifier is the one trained on --data) or anomaly[:Q] (the model file's encoder)",
    )
    p.add_argument(
        "--feature-space",
        default="auto",
        choices=("auto", "domain", "inception"),
        help="auto: Inception-v3 for RGB data when its weights are cached locally "
        "(never downloaded), else the domain classifier",
    )
    p.add_argument(
        "--no-cas",
        action="store_true",
        help="skip CAS: it trains two classifiers, most of the time of a --n 10000 eval "
        "(minutes on a CPU)",
    )
    p.add_argument(
        "--no-memorisation",
        action="store_true",
        help="skip the copy rate (nearest training image of every sample and held-out image)",
    )
    p.add_argument(
        "--report",
        default=None,
        metavar="DIR",
        help="also write a self-contained HTML page DIR/index.html with its PNGs (needs "
        "matplotlib: pip install 'ganaug[report]')",
    )
    p.add_argument(
        "--run-dir", default=None, help="a training run folder: its curves go into --report"
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars (on stderr) for the slow stages: the domain classifier (trained "
        "once per data set, then cached), feature extraction and CAS",
    )
    p.add_argument("--no-classes", action="store_true", help="skip the per-class report")
    p.add_argument(
        "--cas-epochs",
        type=int,
        default=None,
        help="epochs of the CAS classifiers (default: about 150,000 image passes, 3 to 30 epochs)",
    )
    add_root(p)
    add_cache_dir(p)
    add_precision(p, "generation (with --model)")
    p.add_argument("--json", default=None, help="also write the report as JSON to this file")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    return p


def run(args: argparse.Namespace) -> int:
    import json

    from ..metrics import evaluate
    from ..sources import parse_label_spec

    source = args.samples if args.samples is not None else _model_source(args)
    report = evaluate(
        source,
        args.data,
        n=args.n,
        seed=args.seed,
        labels=parse_label_spec(args.labels),
        test_data=args.test_data,
        root=args.root,
        feature_space=args.feature_space,
        cache_dir=args.cache_dir,
        class_report=not args.no_classes,
        cas=not args.no_cas,
        memorisation=not args.no_memorisation,
        cas_epochs=args.cas_epochs,
        device=args.device,
        report=args.report,
        run_dir=args.run_dir,
        progress=not args.no_progress,
    )
    print(report.table())
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report.to_dict(), f, indent=2)
        print(f"wrote {args.json}")
    if args.report:
        print(f"wrote {args.report}/index.html")
    return 0


def _model_source(args: argparse.Namespace):
    from ..metrics import quality_filter
    from ..sources import load

    gen = load(args.model, device=args.device, precision=args.precision)
    if args.filter is None:
        return gen
    return quality_filter(
        gen,
        args.filter,
        data=args.data,
        root=args.root,
        cache_dir=args.cache_dir,
        device=args.device,
    )
