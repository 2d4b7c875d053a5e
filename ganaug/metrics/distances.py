"""Distances between real and synthetic image sets: FD, KID, precision/recall/density/coverage,
class accuracy and CAS, in a domain feature space (a small classifier trained on the real data).

No Inception weights can be downloaded here, so the feature extractor is a small CNN trained by
ganaug on the real training set (cached by the data's fingerprint). Its penultimate layer is the
feature space for the Frechet distance (torchmetrics' FID with a custom feature module), and its
predictions give the class accuracy of conditional samples.

Example:
    >>> from ganaug.data import fashion_mnist, to_tensors
    >>> x, y = to_tensors(fashion_mnist(train=True))  # doctest: +SKIP
    >>> clf = domain_classifier(x, y)  # trained once, then read from the cache  # doctest: +SKIP
    >>> frechet_distance(x[:5000], fake, feature_model=clf)  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

from .._images import to_float
from .classifier import (
    DomainClassifier,
    batches,
    check_images,
    predict_proba,
    train_domain_classifier,
)

__all__ = [
    "frechet_distance",
    "frechet_distance_features",
    "kernel_distance_features",
    "prdc",
    "nearest",
    "memorisation",
    "class_accuracy",
    "classification_accuracy_score",
]


class _UInt8Features(nn.Module):
    """uint8 images -> classifier features, the custom feature module torchmetrics calls."""

    def __init__(self, model: DomainClassifier, device: torch.device) -> None:
        super().__init__()
        self.model = model
        self.num_features = model.num_features
        self.device_ = device

    @torch.inference_mode()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.features(to_float(x.to(self.device_))).double().cpu()


class _Precomputed(nn.Module):
    """Identity feature module: lets torchmetrics' FID/KID read features computed once."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return f.double()


def frechet_distance(
    real: Any,
    fake: Any,
    *,
    feature_model: DomainClassifier,
    batch_size: int = 512,
    device: str | torch.device = "cpu",
) -> float:
    """Frechet distance between two uint8 image sets (N, C, H, W) in ``feature_model``'s space.

    torchmetrics' ``FrechetInceptionDistance`` with the classifier's features as a custom
    feature module (nothing is downloaded), accumulated in float64.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance

    real = check_images(real, "real images", feature_model.image_shape)
    fake = check_images(fake, "fake images", feature_model.image_shape)
    _check_pair(real.shape[0], fake.shape[0], 2, "Frechet distance")
    dev = torch.device(device)
    feature_model.eval().to(dev)
    fid = FrechetInceptionDistance(feature=_UInt8Features(feature_model, dev))
    for b in batches(real, batch_size):
        fid.update(b, real=True)
    for b in batches(fake, batch_size):
        fid.update(b, real=False)
    return max(float(fid.compute()), 0.0)


def _check_pair(n_real: int, n_fake: int, least: int, what: str) -> None:
    if n_real < least or n_fake < least:
        raise ValueError(
            f"expected at least {least} real and {least} fake images for the {what}, "
            f"got {n_real} and {n_fake}"
        )


def _check_features(real: torch.Tensor, fake: torch.Tensor) -> None:
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"expected real and fake features (N, F) of one width, "
            f"got {tuple(real.shape)} and {tuple(fake.shape)}"
        )


def frechet_distance_features(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Frechet distance of two feature sets (N, F), via torchmetrics' FID, in float64."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    _check_features(real, fake)
    _check_pair(real.shape[0], fake.shape[0], 2, "Frechet distance")
    fid = FrechetInceptionDistance(feature=_Precomputed(real.shape[1]))
    fid.update(real.cpu(), real=True)
    fid.update(fake.cpu(), real=False)
    return max(float(fid.compute()), 0.0)


def kernel_distance_features(
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """KID (mean, std over subsets) of two feature sets (N, F), via torchmetrics' KID.

    torchmetrics draws the subsets with the global RNG; it runs here inside a forked RNG seeded
    with ``seed``, so the result is reproducible and the caller's RNG is left alone.
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    _check_features(real, fake)
    _check_pair(real.shape[0], fake.shape[0], 2, "kernel distance")
    size = min(subset_size, real.shape[0], fake.shape[0])
    with warnings.catch_warnings():  # "will save all extracted features": that is the point
        warnings.filterwarnings("ignore", message=".*save all extracted features.*")
        kid = KernelInceptionDistance(
            feature=_Precomputed(real.shape[1]), subsets=subsets, subset_size=size
        )
    kid.update(real.cpu(), real=True)
    kid.update(fake.cpu(), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = kid.compute()
    return float(mean), float(std)


def _kth_nn_radii(x: torch.Tensor, k: int, batch_size: int) -> torch.Tensor:
    """(N,) distance from each row of x to its k-th nearest other row."""
    out = []
    for lo in range(0, x.shape[0], batch_size):
        d = torch.cdist(x[lo : lo + batch_size], x)  # (b, N); self at distance 0
        out.append(d.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(out)


def prdc(
    real: torch.Tensor, fake: torch.Tensor, *, k: int = 5, batch_size: int = 1024
) -> dict[str, float]:
    """Precision, recall (Kynkaanniemi et al. 2019), density and coverage (Naeem et al. 2020).

    k-NN manifolds in feature space: each sample's ball reaches its k-th nearest neighbour in
    its own set. Precision: fraction of fake samples inside the real manifold; recall: fraction
    of real samples inside the fake manifold; density: mean count of real balls holding a fake
    sample, divided by k; coverage: fraction of real balls holding at least one fake sample.

    Args:
        real: (N, F) features of real samples; fake: (M, F) of generated ones.
        k: neighbourhood size (5 as in Naeem et al.).
        batch_size: rows per ``torch.cdist`` block (memory is batch_size x max(N, M)).
    """
    _check_features(real, fake)
    _check_pair(real.shape[0], fake.shape[0], k + 1, f"k-NN manifolds (k={k})")
    real, fake = real.double(), fake.double()
    r_real = _kth_nn_radii(real, k, batch_size)  # (N,)
    r_fake = _kth_nn_radii(fake, k, batch_size)  # (M,)
    inside = torch.zeros(fake.shape[0], dtype=torch.int64)  # real balls holding fake j
    covered, recalled = [], []
    for lo in range(0, real.shape[0], batch_size):
        d = torch.cdist(real[lo : lo + batch_size], fake)  # (b, M)
        in_ball = d <= r_real[lo : lo + batch_size, None]  # fake j in real ball i
        inside += in_ball.sum(0)
        covered.append(in_ball.any(1))
        recalled.append((d <= r_fake[None, :]).any(1))  # real i in some fake ball
    return {
        "precision": float((inside > 0).double().mean()),
        "recall": float(torch.cat(recalled).double().mean()),
        "density": float(inside.double().mean() / k),
        "coverage": float(torch.cat(covered).double().mean()),
    }


def nearest(
    queries: torch.Tensor, reference: torch.Tensor, *, k: int = 1, batch_size: int = 1024
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest reference rows of each query row (Euclidean, in feature space).

    Returns distances (Q, k) and indices (Q, k) into ``reference``, nearest first.
    """
    _check_features(reference, queries)
    k = min(k, reference.shape[0])
    ref = reference.double()
    dist, idx = [], []
    for lo in range(0, queries.shape[0], batch_size):
        q = queries[lo : lo + batch_size].double()
        top = torch.cdist(q, ref).topk(k, dim=1, largest=False)
        # cdist's matmul form leaves ~1e-8 between identical rows; the k winners are measured
        # again directly, so an exact copy is at distance 0 on every CPU
        d, order = (q[:, None] - ref[top.indices]).norm(dim=2).sort(dim=1)
        dist.append(d)
        idx.append(top.indices.gather(1, order))
    if not dist:
        return torch.zeros(0, k, dtype=torch.float64), torch.zeros(0, k, dtype=torch.int64)
    return torch.cat(dist), torch.cat(idx)


def memorisation(
    train: torch.Tensor,
    held_out: torch.Tensor,
    fake: torch.Tensor,
    *,
    quantile: float = 0.01,
    batch_size: int = 1024,
) -> dict[str, Any]:
    """How close synthetic samples sit to the training images, against real held-out images.

    For every sample, the distance to its nearest training image; the same for real images the
    generator never saw. A generator that copies its training images puts its samples much
    closer than real held-out images ever are.

    Args:
        train: (N, F) features of the training images (what the generator learned from).
        held_out: (M, F) features of real images not in ``train``.
        fake: (S, F) features of the samples.
        quantile: the held-out distance quantile below which a sample counts as a copy.

    Returns:
        ``copy_rate`` (share of samples nearer a training image than the ``quantile`` of
        held-out images; about ``quantile`` for a generator that does not copy, 1 for exact
        copies), ``copy_threshold`` (that distance), ``nn_ratio`` (median sample distance over
        median held-out distance: about 1 when samples are as novel as new real images, near 0
        for copies), and the per-row distances ``fake_distance`` (S,), ``fake_index`` (S,) and
        ``held_out_distance`` (M,).
    """
    d_fake, i_fake = nearest(fake, train, batch_size=batch_size)
    d_real, _ = nearest(held_out, train, batch_size=batch_size)
    d_fake, d_real = d_fake[:, 0], d_real[:, 0]
    threshold = float(torch.quantile(d_real, quantile))
    med_real = float(d_real.median())
    return {
        "copy_rate": float((d_fake < threshold).double().mean()),
        "copy_threshold": threshold,
        "nn_ratio": float(d_fake.median()) / med_real if med_real > 0 else float("nan"),
        "fake_distance": d_fake,
        "fake_index": i_fake[:, 0],
        "held_out_distance": d_real,
    }


def class_accuracy(
    classifier: DomainClassifier,
    images: Any,
    labels: Any,
    *,
    batch_size: int = 512,
    device: str | torch.device = "cpu",
) -> float:
    """Fraction of uint8 ``images`` (N, C, H, W) that ``classifier`` assigns to ``labels``."""
    y = torch.as_tensor(labels).to(torch.int64).reshape(-1).cpu()
    x = check_images(images, "images", classifier.image_shape)
    if y.numel() != x.shape[0]:
        raise ValueError(f"expected one label per image ({x.shape[0]}), got {y.numel()}")
    pred = predict_proba(classifier, x, batch_size=batch_size, device=device).argmax(1)
    return float((pred == y).float().mean())


def classification_accuracy_score(
    synthetic: tuple[Any, Any],
    test: tuple[Any, Any],
    *,
    real: tuple[Any, Any] | None = None,
    epochs: int | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> dict[str, float]:
    """CAS: a fresh classifier trained only on synthetic samples, scored on real test data.

    Next to it, the same classifier and recipe trained on as many real samples (``real``), the
    baseline CAS should approach.

    Args:
        synthetic: (uint8 images (N, C, H, W), labels (N,)) generated samples.
        test: the real test split (images, labels).
        real: real training samples for the baseline; the first N are used.
        epochs: training epochs (default: about 150k image passes, 3..30 epochs).
        seed: training seed (both classifiers use the same).
        progress: show a tqdm bar for each of the two trainings (the slow part of an eval).

    Returns:
        ``{"cas": ..., "real_baseline": ... (when real is given), "n": N, "epochs": ...}``
    """
    xs, ys = synthetic
    n = int(torch.as_tensor(ys).numel())
    epochs = epochs or max(3, min(30, -(-150_000 // max(n, 1))))
    k = int(max(torch.as_tensor(ys).max(), torch.as_tensor(test[1]).max())) + 1
    kw = {"epochs": epochs, "seed": seed, "device": device, "num_classes": k}
    out: dict[str, float] = {"n": n, "epochs": epochs}
    bar = (lambda what: f"CAS: classifier on {n} {what}") if progress else (lambda what: None)
    clf = train_domain_classifier(xs, ys, progress=bar("synthetic samples"), **kw)
    out["cas"] = class_accuracy(clf, *test, device=device)
    if real is not None:
        xr, yr = real
        if int(torch.as_tensor(yr).numel()) < n:
            raise ValueError(
                f"expected at least {n} real samples for the CAS baseline, got "
                f"{int(torch.as_tensor(yr).numel())}"
            )
        clf = train_domain_classifier(xr[:n], yr[:n], progress=bar("real images"), **kw)
        out["real_baseline"] = class_accuracy(clf, *test, device=device)
    return out
