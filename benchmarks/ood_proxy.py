"""Out-of-distribution scores on a validation proxy: other kinds of image than the digits case.

``benchmarks/anomaly.py`` measures OOD detection on one case, Fashion-MNIST test images against
upscaled 8x8 digits (issue 14's goal). To choose a score without tuning it on that case, this
script scores five other kinds of image against the 10,000 Fashion-MNIST test images and prints
the AUROC of each candidate score under the best-fitting class:

- 28x28 crops of scikit-learn's two bundled photographs (grey, downscaled 4, 6 and 8 times);
- inverted test images (255 - x);
- Gaussian noise blurred with a random sigma of 0.5-3.5 pixels, stretched to [0, 255];
- uniform noise;
- test images rotated by 90 degrees.

Candidates: ganaug's four methods (``izif``, ``combined``, ``discriminator``, ``complexity``;
the last chosen on this proxy in session 20, from a grid of 30), the pixel and
discriminator-feature residuals alone, and a Mahalanobis detector on the discriminator's
features (Lee et al. 2018: class means and a shared Ledoit-Wolf covariance after PCA to 256,
fitted on 10,000 training images; per class and as one Gaussian), and a class-gap score: the
pixel residual plus half D's logit (each standardised on the Fashion-MNIST test images) under
the best class, less half its gap to the mean over classes (weights chosen on this proxy in
session 13, from a grid of 48). ``--digits`` scores the test
case instead, for the record once a score is chosen.

    OMP_NUM_THREADS=1 python benchmarks/ood_proxy.py --model fashion-mnist [--grid] [--digits]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.covariance import LedoitWolf
from sklearn.datasets import load_sample_images
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score

import ganaug
from ganaug._images import to_float
from ganaug.data import load_dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anomaly import upscaled_digits  # noqa: E402


def photo_crops(n: int, g: torch.Generator) -> torch.Tensor:
    out = []
    for im in load_sample_images().images:
        x = torch.tensor(im, dtype=torch.float32).mean(2)[None, None]  # (1, 1, H, W) grey
        for f in (4, 6, 8):
            s = torch.nn.functional.interpolate(x, scale_factor=1 / f, mode="area")
            h, w = s.shape[-2:]
            for _ in range(n // 6):
                i = int(torch.randint(0, h - 28, (1,), generator=g))
                j = int(torch.randint(0, w - 28, (1,), generator=g))
                out.append(s[0, :, i : i + 28, j : j + 28])
    return torch.stack(out).round().clamp(0, 255).to(torch.uint8)


def smooth_noise(n: int, g: torch.Generator) -> torch.Tensor:
    x = torch.randn(n, 1, 28, 28, generator=g)
    k = torch.arange(-6, 7).float()
    out = []
    for i in range(n):
        s = 0.5 + 3 * float(torch.rand(1, generator=g))
        w = torch.exp(-(k**2) / (2 * s * s))
        w = w / w.sum()
        y = torch.nn.functional.conv2d(x[i : i + 1], w.view(1, 1, 1, -1), padding=(0, 6))
        y = torch.nn.functional.conv2d(y, w.view(1, 1, -1, 1), padding=(6, 0))
        out.append(((y - y.min()) / (y.max() - y.min() + 1e-8))[0])
    return (torch.stack(out) * 255).round().to(torch.uint8)


def proxy_sets(test: torch.Tensor) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1234)
    pick = torch.randperm(len(test), generator=g)[:1000]
    return {
        "photo crops": photo_crops(1200, g),
        "inverted": 255 - test[pick],
        "smooth noise": smooth_noise(1000, g),
        "uniform noise": torch.randint(0, 256, (500, 1, 28, 28), generator=g, dtype=torch.uint8),
        "rotated 90": torch.rot90(test[pick], 1, dims=(2, 3)).contiguous(),
    }


class Candidates:
    """Every candidate score of a set of images, each under its best-fitting class."""

    def __init__(
        self, scorer: ganaug.AnomalyScorer, train_images, train_labels, grid: bool = False
    ) -> None:
        self.scorer, self.d = scorer, scorer.discriminator()
        self.k = scorer.num_classes
        f = self.phi(train_images)
        self.pca = PCA(256, random_state=0).fit(f)
        z, y = self.pca.transform(f), train_labels.numpy()
        self.means = np.stack([z[y == c].mean(0) for c in range(self.k)])
        self.prec = LedoitWolf().fit(z - self.means[y]).precision_
        self.one = LedoitWolf().fit(z)
        self.ref: tuple[torch.Tensor, torch.Tensor] | None = None
        self.logit_ref: tuple[torch.Tensor, torch.Tensor] | None = None
        self.grid = grid

    def zterms(self, t: torch.Tensor, weights: tuple[float, float, float]) -> torch.Tensor:
        """(N, K) weighted sum of the three terms, each standardised by its best-class mean and
        std over the Fashion-MNIST test images (``self.ref``, set by the first call)."""
        if self.ref is None:
            low = t.min(1).values  # (N, 3)
            self.ref = (low.mean(0), low.std(0))
        z = (t - self.ref[0]) / self.ref[1]
        return sum(w * z[..., i] for i, w in enumerate(weights) if w)

    @torch.inference_mode()
    def phi(self, x: torch.Tensor) -> np.ndarray:
        f = [self.d.features(to_float(x[i : i + 512])).float() for i in range(0, len(x), 512)]
        return torch.cat(f).numpy()

    def __call__(self, x: torch.Tensor) -> dict[str, np.ndarray]:
        xf, meta = to_float(x), self.scorer.meta
        t = torch.stack(
            [self.scorer.terms(xf, torch.full((len(x),), c)) for c in range(self.k)], 1
        )  # (N, K, 3): pixel residual, feature residual, -logit
        z = self.pca.transform(self.phi(x))
        maha = np.stack([np.einsum("ij,jk,ik->i", z - m, self.prec, z - m) for m in self.means])
        methods = ("izif", "combined", "discriminator", "complexity")
        best = {m: self.scorer.combine(t.flatten(0, 1), m).view(len(x), -1) for m in methods}
        best["pixel residual"] = t[..., 0] / meta.pixel_var
        best["D-feature residual"] = t[..., 1] / meta.feature_var
        out = {k: v.min(1).values.numpy() for k, v in best.items()}
        # how much better the best class fits than the average one: an image of the data set
        # fits its class far better than the others, an odd image fits all about alike
        per = self.zterms(t, (1.0, 0.0, 0.5)).sort(1).values
        out["pixel + 0.5 logit, less 0.5 class gap"] = (
            per[:, 0] - 0.5 * (per.mean(1) - per[:, 0])
        ).numpy()
        out["minus detail alone"] = -t[:, 0, 3].log().numpy()  # smooth = odd, no GAN at all
        out["Mahalanobis, per class"] = maha.min(0)
        out["Mahalanobis, one Gaussian"] = self.one.mahalanobis(z)
        if self.grid:
            out.update(self.complexity_grid(xf, t))
        return out

    def complexity_grid(self, xf: torch.Tensor, t: torch.Tensor) -> dict[str, np.ndarray]:
        """The 30 candidates the ``complexity`` score was chosen from (session 20):
        ``log(pixel residual) - a log(C) + w z(-logit)``, C the image's detail or its total
        variation, each term under its best class, z standardised on the first set scored."""
        pix = (t[..., 0] / self.scorer.meta.pixel_var).min(1).values.log()
        logit = t[..., 2].min(1).values
        if self.logit_ref is None:  # the Fashion-MNIST test images
            self.logit_ref = (logit.mean(), logit.std())
        zl = (logit - self.logit_ref[0]) / self.logit_ref[1]
        tv = (xf[..., 1:, :] - xf[..., :-1, :]).abs().flatten(1).sum(1)
        tv = tv + (xf[..., 1:] - xf[..., :-1]).abs().flatten(1).sum(1)
        measures = {"detail": t[:, 0, 3].log(), "total variation": tv.clamp(min=1e-3).log()}
        return {
            f"log pix - {a} log {name} + {w} z(-logit)": (pix - a * c + w * zl).numpy()
            for name, c in measures.items()
            for a in (0.5, 0.75, 1.0, 1.25, 1.5)
            for w in (0.0, 0.25, 0.5)
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="fashion-mnist", help="a model file with an encoder")
    ap.add_argument("--digits", action="store_true", help="score the digits test case instead")
    ap.add_argument(
        "--grid", action="store_true", help="also the 30 candidates complexity was chosen from"
    )
    args = ap.parse_args()
    t0 = time.time()
    tr, te = load_dataset("fashion-mnist"), load_dataset("fashion-mnist:test")
    fit = torch.randperm(len(tr), generator=torch.Generator().manual_seed(0))[:10_000]
    scorer = ganaug.AnomalyScorer(ganaug.load(args.model))
    cand = Candidates(scorer, tr.images[fit], tr.labels[fit], grid=args.grid)
    sets = {"digits (test case)": upscaled_digits()} if args.digits else proxy_sets(te.images)
    normal = cand(te.images)  # first: it sets the terms' standardisation
    rows = {}
    for name, x in sets.items():
        odd = cand(x)
        rows[name] = {
            m: roc_auc_score(np.r_[np.zeros(len(normal[m])), np.ones(len(v))], np.r_[normal[m], v])
            for m, v in odd.items()
        }
    grid = [m for m in normal if m.startswith("log pix - ")]
    methods = [m for m in normal if m not in grid]
    print(f"model {args.model}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| set | " + " | ".join(methods) + " |")
    print("|---" * (len(methods) + 1) + "|")
    for name, r in rows.items():
        print(f"| {name} | " + " | ".join(f"{r[m]:.3f}" for m in methods) + " |")
    if len(rows) > 1:
        mean = [np.mean([r[m] for r in rows.values()]) for m in methods]
        print("| mean | " + " | ".join(f"{v:.3f}" for v in mean) + " |")
    if grid:  # one row per candidate, best mean first
        print("\n| candidate | " + " | ".join(rows) + " | mean |")
        print("|---" * (len(rows) + 2) + "|")
        means = {m: np.mean([r[m] for r in rows.values()]) for m in grid}
        for m in sorted(grid, key=lambda m: -means[m]):
            cells = " | ".join(f"{r[m]:.3f}" for r in rows.values())
            print(f"| {m} | {cells} | {means[m]:.3f} |")
    print(f"{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
