"""Is a model's coverage gap a shift of its sample distribution? (issue 12's diagnosis)

Takes the features ``ganaug eval`` measures in (the domain classifier's, N balanced samples,
seed 0, against N training images), moves the sample features and measures FD and
precision/recall/density/coverage again, with the real images untouched:

- as they are;
- shifted by the global mean difference;
- shifted by each class's mean difference;
- mapped per class onto the real class's mean and covariance (whiten, then colour);

and, as the ceiling, the real test split's images in place of the samples. If coverage stays
low after the moment match, the gap is not a shift or a spread of the distribution.

    OMP_NUM_THREADS=1 python benchmarks/coverage_shift.py --model fashion-mnist
"""

from __future__ import annotations

import argparse

import torch

from ganaug.data import load_dataset
from ganaug.metrics import classifier as clf_lib
from ganaug.metrics import distances
from ganaug.metrics.evaluation import _feature_model, _subset
from ganaug.metrics.samples import load_samples


def moment_match(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a`` whitened with its own covariance, coloured with ``b``'s, moved to ``b``'s mean."""

    def cov_power(x: torch.Tensor, power: float) -> torch.Tensor:
        c = torch.cov((x - x.mean(0)).T.double())
        e, v = torch.linalg.eigh(c + 1e-6 * torch.eye(x.shape[1], dtype=torch.float64))
        return v @ torch.diag(e.clamp_min(1e-9) ** power) @ v.T

    out = (a - a.mean(0)).double() @ cov_power(a, -0.5) @ cov_power(b, 0.5)
    return (out + b.mean(0).double()).float()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="fashion-mnist")
    ap.add_argument("--n", type=int, default=10_000)
    args = ap.parse_args()
    train, test = load_dataset("fashion-mnist"), load_dataset("fashion-mnist:test")
    _, fm = _feature_model("domain", clf_lib.domain_classifier(train.images, train.labels), train)
    real, yr = _subset(train, args.n, 0)
    samples = load_samples(args.model, n=args.n, seed=0, labels="balanced", device="cpu")
    yf = samples.labels

    def features(x: torch.Tensor) -> torch.Tensor:
        return clf_lib.extract_features(fm, x, batch_size=512, device="cpu")

    fr, ff = features(real), features(samples.images)
    per_class_mean, matched = ff.clone(), ff.clone()
    for c in range(len(train.class_names)):
        per_class_mean[yf == c] += fr[yr == c].mean(0) - ff[yf == c].mean(0)
        matched[yf == c] = moment_match(ff[yf == c], fr[yr == c])
    rows = {
        "as they are": ff,
        "global mean shift": ff - ff.mean(0) + fr.mean(0),
        "per-class mean shift": per_class_mean,
        "per-class mean and covariance": matched,
        "(real test images instead)": features(test.images[: args.n]),
    }
    print("| sample features | FD | precision | recall | density | coverage |")
    print("|---|---|---|---|---|---|")
    for name, f in rows.items():
        m = distances.prdc(fr, f, k=5)
        fd = distances.frechet_distance_features(fr, f)
        print(f"| {name} | {fd:.2f} | " + " | ".join(f"{v:.3f}" for v in m.values()) + " |")


if __name__ == "__main__":
    main()
