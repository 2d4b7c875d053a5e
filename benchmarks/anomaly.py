"""Anomaly scoring on Fashion-MNIST: the one-class protocol, out-of-distribution and mislabels.

One-class (GEOM, Golan & El-Yaniv 2018; Deep SVDD): for each class c, an unconditional GAN with
ganaug's default recipe is trained on class c's 6,000 training images only (for
``--gan-minutes``, or ``--gan-steps`` generator updates), its encoder is fitted, and all 10,000
test images are scored (class c normal, the other nine anomalies). AUROC per class for each of
ganaug's scores (``ganaug.anomaly.METHODS``) and, on the same images, three raw-pixel
baselines: OC-SVM (scikit-learn, RBF, nu 0.1, gamma "scale"), the mean distance to the 5 nearest
training images, and PCA reconstruction error (95% of the variance).

With the bundled model (its encoder included):
- ``ood``: the Fashion-MNIST test set (normal) against scikit-learn's 1,797 8x8 digits upscaled
  to 28x28 (bilinear), AUROC;
- ``mislabel``: 5,000 training images with 5% of their labels flipped to another class (seed
  0); precision of the top 5% of the mislabel score (score under the given label minus the best
  class's).

Writes ``{class, method, auroc}`` and ``{case, method, value}`` rows to benchmarks/results/
anomaly.json (``--quick``: 2 classes, short runs, to a temporary file).

    OMP_NUM_THREADS=2 python benchmarks/anomaly.py --gan-minutes 4 --encoder-steps 1000
    OMP_NUM_THREADS=1 python benchmarks/anomaly.py --gan-steps 1500 --no-bundled --out J
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score
from sklearn.svm import OneClassSVM

import ganaug
import ganaug.anomaly
from ganaug.data import ImageData, digits, load_dataset

RESULTS = Path(__file__).parent / "results" / "anomaly.json"
METHODS = ganaug.anomaly.METHODS


def pixels(images: torch.Tensor) -> np.ndarray:
    return images.reshape(len(images), -1).numpy().astype(np.float32) / 255.0


def baselines(train: torch.Tensor, test: torch.Tensor) -> dict[str, np.ndarray]:
    """Anomaly scores of ``test`` (higher = more anomalous) from the raw-pixel baselines."""
    a, b = pixels(train), pixels(test)
    out = {"ocsvm": -OneClassSVM(kernel="rbf", nu=0.1, gamma="scale").fit(a).decision_function(b)}
    d = torch.cdist(torch.from_numpy(b), torch.from_numpy(a))  # (test, train)
    out["knn"] = d.topk(5, dim=1, largest=False).values.mean(1).numpy()
    pca = PCA(n_components=0.95, svd_solver="full").fit(a)
    out["pca"] = ((b - pca.inverse_transform(pca.transform(b))) ** 2).sum(1)
    return out


def one_class(c: int, tr: ImageData, te: ImageData, args: argparse.Namespace, tmp: Path) -> list:
    normal = tr.images[tr.labels == c]
    t0 = time.monotonic()
    path = ganaug.train(
        ImageData(normal, None, [], f"fashion-mnist class {c}"),
        out=tmp / f"class{c}.safetensors",
        **({"steps": args.gan_steps} if args.gan_steps else {"time_limit": args.gan_minutes}),
        seed=args.seed,
        progress=False,
    )
    t_gan = time.monotonic() - t0
    scorer = ganaug.AnomalyScorer(ganaug.load(path))
    scorer.fit(ImageData(normal, None, [], f"class {c}"), steps=args.encoder_steps, seed=0)
    y = (te.labels != c).numpy()  # 1 = anomaly
    rows = []
    for m in METHODS:
        scorer.method = m
        s = scorer.score(te.images).score.numpy()
        rows.append({"class": c, "method": m, "auroc": float(roc_auc_score(y, s))})
    for name, s in baselines(normal, te.images).items():
        rows.append({"class": c, "method": name, "auroc": float(roc_auc_score(y, s))})
    line = "  ".join(f"{r['method']} {r['auroc']:.3f}" for r in rows)
    print(f"class {c} ({tr.class_names[c]}): {line}  [GAN {t_gan:.0f} s]", flush=True)
    return rows


def upscaled_digits() -> torch.Tensor:
    both = [digits(train=True).images, digits(train=False).images]
    x = torch.cat(both).float()  # (1797, 1, 8, 8)
    x = torch.nn.functional.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8)


def bundled_cases(scorer: ganaug.AnomalyScorer, tr: ImageData, te: ImageData) -> list:
    rows = []
    odd = upscaled_digits()
    g = torch.Generator().manual_seed(0)
    pick = torch.randperm(len(tr), generator=g)[:5000]
    x, y = tr.images[pick], tr.labels[pick].clone()
    n_flip = len(x) // 20
    flip = torch.randperm(len(x), generator=g)[:n_flip]
    y[flip] = (y[flip] + torch.randint(1, tr.num_classes, (n_flip,), generator=g)) % 10
    flipped = torch.zeros(len(x), dtype=torch.bool)
    flipped[flip] = True
    for m in METHODS:
        scorer.method = m
        a, b = scorer.score(te.images).score, scorer.score(odd).score
        truth = np.r_[np.zeros(len(a)), np.ones(len(b))]
        ood = float(roc_auc_score(truth, np.r_[a.numpy(), b.numpy()]))
        top = scorer.score(x, y).mislabel.argsort(descending=True)[:n_flip]
        p_at = float(flipped[top].float().mean())
        rows += [
            {"case": "ood", "method": m, "value": ood},
            {"case": "mislabel_precision_at_5pct", "method": m, "value": p_at},
        ]
        print(f"bundled {m}: OOD AUROC {ood:.4f}, mislabel precision@5% {p_at:.3f}", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", type=int, nargs="*", default=list(range(10)))
    ap.add_argument("--gan-minutes", type=float, default=4.0, help="per class GAN")
    ap.add_argument(
        "--gan-steps", type=int, default=None, help="per class GAN, instead of --gan-minutes"
    )
    ap.add_argument("--encoder-steps", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default="fashion-mnist", help="for the ood/mislabel cases")
    ap.add_argument("--no-bundled", action="store_true", help="skip the ood/mislabel cases")
    ap.add_argument("--quick", action="store_true", help="2 classes, 0.5-minute GANs")
    ap.add_argument("--out", default=None, help=f"JSON (default {RESULTS})")
    args = ap.parse_args()
    if args.quick:
        args.classes, args.gan_minutes, args.encoder_steps = args.classes[:2], 0.5, 100
    out = Path(args.out) if args.out else (None if args.quick else RESULTS)
    if out is None:
        out = Path(tempfile.mkdtemp()) / "anomaly.json"
    tr, te = load_dataset("fashion-mnist"), load_dataset("fashion-mnist:test")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    rows: list = []
    if not args.no_bundled:
        scorer = ganaug.AnomalyScorer(ganaug.load(args.model))
        rows += bundled_cases(scorer, tr, te)
    with tempfile.TemporaryDirectory() as tmp:
        for c in args.classes:
            rows += one_class(c, tr, te, args, Path(tmp))
            write(out, rows)
    names = sorted({r["method"] for r in rows if "class" in r})
    for m in names:
        v = [r["auroc"] for r in rows if r.get("method") == m and "class" in r]
        print(f"mean AUROC {m}: {100 * np.mean(v):.1f} over {len(v)} classes")
    write(out, rows)
    print(f"wrote {out}")


def write(path: Path, rows: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
