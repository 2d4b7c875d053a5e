"""The domain classifier: a small CNN trained by ganaug on real data, cached by fingerprint.

No Inception weights can be downloaded here, so the feature space for ganaug's quality measures
is the penultimate layer of this classifier, trained once on the real training set and cached as
safetensors (JSON config in the metadata, no pickle) under a key made of the data fingerprint and
the training settings.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._files import replacing
from .._images import expect_shape, to_float

__all__ = [
    "DomainClassifier",
    "train_domain_classifier",
    "domain_classifier",
    "default_cache_dir",
    "save_classifier",
    "load_classifier",
    "extract_features",
    "predict_proba",
]

CLASSIFIER_FORMAT = "ganaug-domain-classifier"
CLASSIFIER_VERSION = "1"  # bump when the architecture or the training recipe changes
_TRAIN_DEFAULTS = {"epochs": 3, "batch_size": 128, "lr": 2e-3, "seed": 0}


class DomainClassifier(nn.Module):
    """A small CNN for images (C, H, W), C in {1, 3}, 8 <= H, W <= 64.

    Three conv stages (16/32/64 channels, two 2x poolings), then a ``feature_dim`` layer
    (the feature space) and the class logits.

    Args:
        image_shape: (C, H, W) of the images it reads.
        num_classes: number of classes K (>= 2).
        feature_dim: width of the penultimate (feature) layer.
    """

    def __init__(
        self, *, image_shape: tuple[int, int, int], num_classes: int, feature_dim: int = 128
    ) -> None:
        super().__init__()
        shape = tuple(int(s) for s in image_shape)
        if len(shape) != 3 or shape[0] not in (1, 3) or not all(8 <= s <= 64 for s in shape[1:]):
            raise ValueError(
                f"expected image_shape (C, H, W) with C in {{1, 3}} and 8 <= H, W <= 64, "
                f"got {tuple(image_shape)}"
            )
        if int(num_classes) < 2:
            raise ValueError(f"expected num_classes >= 2, got {num_classes}")
        if int(feature_dim) < 2:
            raise ValueError(f"expected feature_dim >= 2, got {feature_dim}")
        self.image_shape: tuple[int, int, int] = shape  # type: ignore[assignment]
        self.num_classes = int(num_classes)
        self.num_features = int(feature_dim)  # torchmetrics reads `num_features`
        c = shape[0]

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [
                nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            ]

        self.body = nn.Sequential(
            *block(c, 16),
            nn.MaxPool2d(2),
            *block(16, 32),
            nn.MaxPool2d(2),
            *block(32, 64),
            nn.Flatten(),
            nn.Linear(64 * (shape[1] // 4) * (shape[2] // 4), self.num_features),
            nn.ReLU(inplace=True),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(self.num_features, self.num_classes)

    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-able), stored next to the weights."""
        return {
            "image_shape": list(self.image_shape),
            "num_classes": self.num_classes,
            "feature_dim": self.num_features,
        }

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (B, F) of float images (B, C, H, W) in [-1, 1]."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (B, K) of float images (B, C, H, W) in [-1, 1]."""
        return self.head(self.dropout(self.body(x)))


def check_images(
    images: Any, what: str, image_shape: tuple[int, ...] | None = None
) -> torch.Tensor:
    x = torch.as_tensor(images)
    if x.dtype != torch.uint8 or x.ndim != 4:
        raise ValueError(f"expected {what} as uint8 (N, C, H, W), got {x.dtype} {tuple(x.shape)}")
    if image_shape is not None:
        expect_shape(x.shape[1:], image_shape, what=what, whose="the classifier reads")
    if x.shape[0] == 0:
        raise ValueError(f"expected at least one image in {what}, got 0")
    return x


def batches(x: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    for lo in range(0, x.shape[0], batch_size):
        yield x[lo : lo + batch_size]


def train_domain_classifier(
    images: Any,
    labels: Any,
    *,
    epochs: int = _TRAIN_DEFAULTS["epochs"],
    batch_size: int = _TRAIN_DEFAULTS["batch_size"],
    lr: float = _TRAIN_DEFAULTS["lr"],
    seed: int = 0,
    device: str | torch.device = "cpu",
    feature_dim: int = 128,
    num_classes: int | None = None,
    progress: str | None = None,
) -> DomainClassifier:
    """Train a :class:`DomainClassifier` on labelled uint8 images (N, C, H, W).

    ``progress``: a label for a tqdm bar over the steps (on stderr); None trains silently.

    Adam with a one-cycle learning rate; all randomness (init, shuffling, dropout) comes from
    ``seed`` inside a forked RNG, so the global RNG is left as it was.

    Returns:
        The trained classifier in eval mode, on the CPU.
    """
    x = check_images(images, "images")
    y = torch.as_tensor(labels).to(torch.int64).reshape(-1)
    if y.numel() != x.shape[0]:
        raise ValueError(f"expected one label per image ({x.shape[0]}), got {y.numel()}")
    if y.min() < 0:
        raise ValueError(f"expected labels 0..K-1, found {int(y.min())}")
    found = int(y.max()) + 1
    if num_classes is not None and found > num_classes:
        raise ValueError(f"expected labels 0..{num_classes - 1}, found {found - 1}")
    num_classes = max(num_classes or found, 2)
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"expected epochs >= 1 and batch_size >= 1, got {epochs}, {batch_size}")
    dev = torch.device(device)
    rng_devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=rng_devices):
        torch.manual_seed(seed)
        model = DomainClassifier(
            image_shape=tuple(x.shape[1:]), num_classes=num_classes, feature_dim=feature_dim
        ).to(dev)
        gen = torch.Generator().manual_seed(seed)
        steps_per_epoch = -(-x.shape[0] // batch_size)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=lr, epochs=epochs, steps_per_epoch=steps_per_epoch
        )
        model.train()
        from tqdm.auto import tqdm

        bar = tqdm(
            total=epochs * steps_per_epoch,
            desc=progress,
            unit="step",
            disable=progress is None,
            mininterval=2.0,
        )
        for _ in range(epochs):
            perm = torch.randperm(x.shape[0], generator=gen)
            for lo in range(0, x.shape[0], batch_size):
                idx = perm[lo : lo + batch_size]
                xb, yb = to_float(x[idx]).to(dev), y[idx].to(dev)
                loss = nn.functional.cross_entropy(model(xb), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                bar.update(1)
        bar.close()
    return model.eval().to("cpu").requires_grad_(False)


def default_cache_dir() -> Path:
    """``$GANAUG_CACHE/classifiers`` or ``~/.cache/ganaug/classifiers``."""
    base = os.environ.get("GANAUG_CACHE")
    root = Path(base) if base else Path.home() / ".cache" / "ganaug"
    return root / "classifiers"


def _cache_key(fp: str, train_kwargs: dict[str, Any]) -> str:
    blob = json.dumps({"v": CLASSIFIER_VERSION, **train_kwargs}, sort_keys=True, default=str)
    return f"{fp}-{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


def save_classifier(
    path: str | os.PathLike, model: DomainClassifier, info: dict[str, Any] | None = None
) -> Path:
    """Write ``model`` as safetensors + JSON metadata, atomically (temp file, then rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {
        "format": CLASSIFIER_FORMAT,
        "format_version": CLASSIFIER_VERSION,
        "config": json.dumps(model.config()),
        "info": json.dumps(info or {}),
    }
    # atomic: a concurrent reader sees the old file or the new one
    with replacing(path) as tmp:
        save_file(state, str(tmp), metadata=meta)
    return path


def load_classifier(path: str | os.PathLike) -> DomainClassifier:
    """Read a classifier written by :func:`save_classifier` (no pickle)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        if meta.get("format") != CLASSIFIER_FORMAT:
            raise ValueError(
                f"{path} is not a ganaug domain classifier (format {meta.get('format')!r})"
            )
        state = {k: f.get_tensor(k) for k in f.keys()}
    cfg = json.loads(meta["config"])
    model = DomainClassifier(
        image_shape=tuple(cfg["image_shape"]),
        num_classes=cfg["num_classes"],
        feature_dim=cfg["feature_dim"],
    )
    model.load_state_dict(state)
    return model.eval().requires_grad_(False)


def domain_classifier(
    images: Any,
    labels: Any,
    *,
    cache_dir: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    progress: bool = False,
    **train_kwargs: Any,
) -> DomainClassifier:
    """The domain classifier for a labelled dataset: read from the cache, or trained and cached.

    The cache key is :func:`ganaug.data.fingerprint` of (images, labels) plus the training
    settings, so a different dataset or recipe never reuses a stale classifier.

    Args:
        images: uint8 (N, C, H, W) real training images.
        labels: (N,) int class labels.
        cache_dir: where classifiers live (default :func:`default_cache_dir`).
        device: where to train when it is not cached.
        **train_kwargs: passed to :func:`train_domain_classifier` (epochs, batch_size, lr, seed).
    """
    from ..data import fingerprint

    x = check_images(images, "images")
    settings = {**_TRAIN_DEFAULTS, **train_kwargs}
    key = _cache_key(fingerprint(x, labels), settings)
    path = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = path / f"{key}.safetensors"
    if path.exists():
        return load_classifier(path)
    label = "domain classifier (once per data set, then cached)" if progress else None
    model = train_domain_classifier(x, labels, device=device, progress=label, **settings)
    save_classifier(path, model, info={"key": key, "n": int(x.shape[0]), "train": settings})
    return model


@torch.inference_mode()
def _map_images(
    model: nn.Module, fn: Any, images: Any, batch_size: int, device: Any, progress: str | None
) -> torch.Tensor:
    """``fn(model, float batch)`` over uint8 images (N, C, H, W) in batches, cat on the CPU."""
    from tqdm.auto import tqdm

    x = check_images(images, "images", getattr(model, "image_shape", None))
    dev = torch.device(device)
    model = model.eval().to(dev)
    chunks = tqdm(
        batches(x, batch_size),
        total=-(-x.shape[0] // batch_size),
        desc=progress,
        unit="batch",
        disable=progress is None,
        mininterval=2.0,
    )
    return torch.cat([fn(model, to_float(b.to(dev))).float().cpu() for b in chunks])


def extract_features(
    feature_model: DomainClassifier,
    images: Any,
    *,
    batch_size: int = 512,
    device: str | torch.device = "cpu",
    progress: str | None = None,
) -> torch.Tensor:
    """Features (N, F) float32 of uint8 images (N, C, H, W), computed in batches, on the CPU;
    ``progress``: a label for a tqdm bar (None: silent)."""
    return _map_images(
        feature_model, lambda m, b: m.features(b), images, batch_size, device, progress
    )


def predict_proba(
    classifier: DomainClassifier,
    images: Any,
    *,
    batch_size: int = 512,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """Class probabilities (N, K) of uint8 images (N, C, H, W), on the CPU."""
    return _map_images(classifier, lambda m, b: m(b).softmax(1), images, batch_size, device, None)
