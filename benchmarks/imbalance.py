"""Does ganaug beat the classical fixes for class imbalance? DeepSMOTE's Fashion-MNIST protocol.

Per seed, each protocol draws its own imbalanced subset of the Fashion-MNIST training set:
4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40 images (imbalance ratio 100, 9,000 images)
for the classes in its order:

  deepsmote  classes 0..9 (Dablain et al. 2022): the rarest are Sneaker, Bag, Ankle boot, the
             easiest classes;
  hard-rare  classes 1, 7, 9, 8, 5, 3, 2, 4, 0, 6: Trouser gets 4000, Shirt 40, and the four
             smallest (Pullover, Coat, T-shirt, Shirt) are the confusable ones.

A fifth of each class (at least one image) is held out as the validation split; every model is
trained on the rest, and every choice (the best baseline, the best ganaug condition, the top-up
level the ganaug variants use) is made on validation ACSA. The full balanced 10,000-image test
set scores each condition, and is used for nothing else. Conditions, one small CNN (ganaug's
``DomainClassifier``) and one step budget for all:

  plain                  cross-entropy, rows drawn uniformly;
  resample               class-balanced rows (``WeightedRandomSampler``, weights 1/count: the
                         semantics of imbalanced-learn's RandomOverSampler);
  logit-adjusted         the logit-adjusted loss (Menon et al. 2021, tau = 1);
  resample +aug,
  logit-adjusted +aug    each with torchvision v2 flip and a 2-pixel shift;
  smote                  imbalanced-learn's SMOTE on the pixels, then plain;
  ganaug auto, ganaug 5x  a class-conditional GAN trained with ``ganaug.train``'s defaults,
                         but with real batches that follow the data (``balance_classes=False``;
                         the default balances labels this imbalanced), on the same images tops
                         the classes up with ``GANAugmented(real, gen, sampling_strategy=...)``:
                         "auto" (every class to the largest) or a dict (each class to 5 x, or
                         2 x, its real count, at most the largest);
  ganaug-bal auto/5x/2x  the same with the GAN trained with ``balance_classes=True`` (today's
                         default here, ``ganaug train --balance-classes``): real batches drawn
                         class-balanced;
  ganaug-bal-long auto/5x/2x  the same, trained for 4,000 steps (about 36 epochs, not the default
                         10) with DiffAugment (translation, cutout);
  ganaug-bal-6k auto/5x/2x  ganaug-bal trained for 6,000 steps (about 53 epochs) and nothing
                         else changed: does a longer-trained generator help?
  ganaug-bal-6k-da auto/5x/2x  the same with DiffAugment (translation, cutout);
  ganaug-bal-6k-da-sqrt auto/5x/2x  the same with square-root sampling of the real batches
                         (``balance_power=0.5``: class c drawn in proportion to sqrt(count_c));
  ganaug-bal-6k-shared, ganaug-bal-6k-da-shared auto/5x/2x  ganaug-bal-6k and -6k-da with
                         the generator's conditioning shared across classes (cdcgan's
                         ``cond_dim`` = 4: each class a 4-number code, every per-class table a
                         map of it that all classes train);
  ganaug +resample +aug, ganaug +logit-adjusted, ganaug +filter
                         the best of the bases above (of the ``--recipes`` run; by validation
                         ACSA, per run) with
                         class-balanced resampling of real + synthetic rows and classical
                         augmentation (the best baseline's recipe on the augmented set), with the
                         logit-adjusted loss (prior: the augmented set's class frequencies), and
                         with its synthetic rows drawn through ``FilteredSource(gen,
                         method="drs")``;
  ganaug 2x +resample +aug  the best base's GAN at the 2x level, whatever level won, with the
                         best baseline's recipe: real rows stay at least half of every class, so
                         it asks whether synthetic rows add to resample +aug at all;
  ganaug +confidence, ganaug 2x +confidence +resample +aug
                         the best base, and the 2x variant, with synthetic rows drawn through
                         ``FilteredSource(gen, method="confidence", threshold=0.9)`` judged by
                         the resample +aug classifier of the same split: a sample is kept when
                         that classifier gives its class >= 0.9 (else the best of 8 tries), so
                         mislabelled synthetic rows (shirts drawn as T-shirts) are dropped;
  ganaug 2x pretrain, real fine-tune, ganaug auto pretrain, real fine-tune
                         the same step budget in two parts, both resampled and augmented: two
                         thirds on the 2x (or "auto") top-up, then a third on the real rows
                         alone (half the learning rate), so the real images correct what the
                         synthetic ones teach wrong; with the suffix " 1/4" or " 1/2" the
                         fine-tune takes that share of the budget instead, with " LR/4" it
                         peaks at a quarter of the learning rate (validation picks among them);
  ganaug 2x teacher-labelled pretrain, real fine-tune (and auto)
                         the same, with each synthetic row taught as half its class and half
                         the resample +aug classifier's softmax (real rows stay one-hot);
  ganaug 2x +resample +aug, synthetic weight 0.25 (and 0.5)
                         the 2x variant with each synthetic row's cross-entropy down-weighted
                         (DiffuLT's weighted loss; real rows weigh 1);
  ganaug 2x entropy-selected +resample +aug
                         the 2x variant with its synthetic rows chosen by the classifier's
                         feedback: 4 x as many drawn, and per class the ones the resample +aug
                         classifier is least sure of (highest softmax entropy) kept;
  ganaug 2x every class +resample +aug
                         every class, the large ones too, topped up to 2 x its real count, so
                         every class is half synthetic and looking generated says nothing
                         about the class;
  resample +aug, two-phase
                         its control: the same two parts on the real rows alone (what the
                         schedule is worth without synthetic rows);
  extra real 2x +resample +aug, extra real auto +resample +aug
                         the ceiling, not a fix a user has: the classes topped up to the 2x
                         (or "auto") level with more *real* images, drawn from the Fashion-MNIST
                         training images outside the seed's subset, then resample +aug. It is
                         an estimate of what a perfect generator (one that draws new images from
                         the real distribution) would give at that level with the baseline's
                         recipe. Neither a baseline nor a ganaug condition: the verdict compares
                         neither.

Metrics (test set): ACSA (mean per-class recall, scikit-learn's balanced accuracy), the
geometric mean of the per-class recalls (imbalanced-learn), macro F1, and the mean recall of the
three smallest classes. Every process runs torch on one thread (same figures on any machine).

    python benchmarks/imbalance.py --quick                      # 1 seed, a quarter of the data
    python benchmarks/imbalance.py --seeds 0 1 2 --workdir runs/imbalance
    python benchmarks/imbalance.py --protocols hard-rare --seeds 0 1 2 --workdir runs/imbalance
    python benchmarks/imbalance.py --reuse old.json ...   # keep rows already measured
    python benchmarks/imbalance.py --reuse old.json --recipes ganaug-bal \
        --variants "ganaug 2x pretrain, real fine-tune" ...  # one new variant beside them
    python benchmarks/imbalance.py --reuse old.json --recipes --json new.json  # no GAN: the
        # baselines and the ceiling; then --merge old.json new.json --json all.json
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

import ganaug
from ganaug.augment.sampling import resolve_sampling_strategy
from ganaug.data import ImageData, fingerprint, load_dataset
from ganaug.metrics import DomainClassifier
from ganaug.sources import FilteredSource
from ganaug.training.step import balancing_weights  # 1 / count(class): a balanced draw

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when loaded by path (tests)
from _common import classical_aug  # noqa: E402

COUNTS = (4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40)
PROTOCOLS = {"deepsmote": tuple(range(10)), "hard-rare": (1, 7, 9, 8, 5, 3, 2, 4, 0, 6)}
BASELINES = (
    "plain",
    "resample",
    "logit-adjusted",
    "resample +aug",
    "logit-adjusted +aug",
    "smote",
    "resample +aug, two-phase",
)
# the ceiling: the top-up levels filled with real images from outside the subset (no generator)
CEILINGS = {f"extra real {level} +resample +aug": level for level in ("2x", "auto")}
DIFFAUGMENT = "translation,cutout"  # the policy of the recipes that use DiffAugment
SHARED_DIM = 4  # the class code's width in the shared-conditioning recipes (10 classes)
# ganaug.train options of each GAN recipe, and its short name in the model file's name
GAN_RECIPES: dict[str, tuple[str, dict[str, Any]]] = {
    "ganaug": ("plain", {"balance_classes": False}),  # real batches follow the data
    "ganaug-bal": ("bal", {"balance_classes": True}),
    "ganaug-bal-long": (
        "bal-long",
        {"balance_classes": True, "steps": 4000, "diffaugment": DIFFAUGMENT},
    ),
    # the default recipe run longer, as the bundled model is (20,000 steps on 60,000 images);
    # no DiffAugment, so length is the one change from ganaug-bal
    "ganaug-bal-6k": ("bal-6k", {"balance_classes": True, "steps": 6000}),
    # the same with DiffAugment: it keeps the rarest classes' spread (RESULTS, session 23)
    "ganaug-bal-6k-da": (
        "bal-6k-da",
        {"balance_classes": True, "steps": 6000, "diffaugment": DIFFAUGMENT},
    ),
    # and with square-root sampling of the real batches (--balance-power 0.5): a rare class is
    # drawn less often than with full balance, so D sees each of its few images less often
    "ganaug-bal-6k-da-sqrt": (
        "bal-6k-da-sqrt",
        {
            "balance_classes": True,
            "balance_power": 0.5,
            "steps": 6000,
            "diffaugment": DIFFAUGMENT,
        },
    ),
    # conditioning shared across classes (cdcgan's cond_dim): each class is a 4-number code and
    # every per-class table of G a map of it that all classes train, so a rare class borrows
    # what the large ones taught (the BAGAN argument, in the generator's conditioning)
    "ganaug-bal-6k-shared": (
        "bal-6k-shared",
        {"balance_classes": True, "steps": 6000, "arch_args": {"cond_dim": SHARED_DIM}},
    ),
    "ganaug-bal-6k-da-shared": (
        "bal-6k-da-shared",
        {
            "balance_classes": True,
            "steps": 6000,
            "diffaugment": DIFFAUGMENT,
            "arch_args": {"cond_dim": SHARED_DIM},
        },
    ),
}
LEVELS = ("auto", "5x", "2x")
GAN_BASES = tuple(f"{r} {level}" for r in GAN_RECIPES for level in LEVELS)
GAN_VARIANTS = (
    "ganaug +resample +aug",
    "ganaug +logit-adjusted",
    "ganaug +filter",
    "ganaug 2x +resample +aug",
    "ganaug +confidence",
    "ganaug 2x +confidence +resample +aug",
)
FINE_TUNE = 1 / 3  # of the step budget: the real-only fine-tune of the pretrain variant
LR = 2e-3  # the classifier's peak learning rate (one-cycle); a fine-tune peaks at half of it
# the pretrain / fine-tune variants: name suffix -> (fine-tune share, its peak learning rate)
FINE_TUNES = {
    "": (FINE_TUNE, LR / 2),
    " 1/4": (1 / 4, LR / 2),
    " 1/2": (1 / 2, LR / 2),
    " LR/4": (FINE_TUNE, LR / 4),
}
PRETRAIN = {
    f"ganaug {level} pretrain, real fine-tune{suffix}": (level, share, lr)
    for suffix, (share, lr) in FINE_TUNES.items()
    for level in ("2x", "auto")
}
GAN_VARIANTS += tuple(PRETRAIN)
# pretrain / fine-tune with the synthetic rows' targets half their class, half what the resample
# +aug classifier of the same split says they show (its softmax): a shirt drawn like a T-shirt
# is taught as partly a T-shirt
TEACHER = 0.5  # the conditioning label's share of a synthetic row's target
TEACHER_VARIANTS = {
    f"ganaug {level} teacher-labelled pretrain, real fine-tune": level for level in ("2x", "auto")
}
GAN_VARIANTS += tuple(TEACHER_VARIANTS)
# DiffuLT (Shao et al. 2024) down-weights synthetic rows in the loss: each synthetic row's
# cross-entropy times w (real rows 1), so they shape the classifier less than real ones
SYN_WEIGHTS = {f"ganaug 2x +resample +aug, synthetic weight {w}": w for w in (0.25, 0.5)}
GAN_VARIANTS += tuple(SYN_WEIGHTS)
# feedback-guided selection (Askari-Hemmat et al. 2024): of ENTROPY_POOL candidates drawn per
# top-up row, keep per class those the resample +aug classifier is least sure of (highest
# softmax entropy), the samples near the class boundaries the generator's prototypes miss
ENTROPY_POOL = 4
ENTROPY_VARIANT = "ganaug 2x entropy-selected +resample +aug"
GAN_VARIANTS += (ENTROPY_VARIANT,)
# synthetic rows in every class, not only the small ones: with the 2x top-up each class is half
# synthetic, so "looks generated" says nothing about the class (with the capped top-ups the
# rare classes are mostly synthetic and the large ones all real, a shortcut a classifier can take)
EVERY_CLASS = "ganaug 2x every class +resample +aug"
GAN_VARIANTS += (EVERY_CLASS,)
CONDITIONS = BASELINES + tuple(CEILINGS) + GAN_BASES + GAN_VARIANTS
METRICS = ("acsa", "gm", "f1", "minority_acc")


# ---- data ---------------------------------------------------------------------------------
def class_counts(protocol: str, scale: float = 1.0) -> dict[int, int]:
    """{class: training images} of a protocol (``scale`` < 1 shrinks it for --quick)."""
    return {c: max(2, round(n * scale)) for c, n in zip(PROTOCOLS[protocol], COUNTS, strict=True)}


def imbalanced_split(
    full: ImageData, counts: dict[int, int], seed: int, val_fraction: float = 0.2
) -> tuple[ImageData, ImageData]:
    """The protocol's subset (``counts[c]`` images of class c, drawn with ``seed``), split into
    (train, validation): ``max(1, round(val_fraction * counts[c]))`` of each class held out."""
    tr, va = [], []
    for c, order in enumerate(_class_orders(full, seed)):
        rows = order[: counts[c]]
        n_val = max(1, round(val_fraction * counts[c]))
        va.append(rows[:n_val])
        tr.append(rows[n_val:])
    return _rows(full, torch.cat(tr), "train"), _rows(full, torch.cat(va), "validation")


def extra_real(
    full: ImageData, counts: dict[int, int], seed: int, extra: dict[int, int]
) -> ImageData:
    """``extra[c]`` more real images of each class c, none of them in the seed's subset
    (:func:`imbalanced_split` with the same ``counts`` and ``seed``): the ones its draw
    would have taken next."""
    idx = []
    for c, order in enumerate(_class_orders(full, seed)):
        more = order[counts[c] : counts[c] + extra.get(c, 0)]
        if len(more) < extra.get(c, 0):
            raise ValueError(
                f"class {c}: {extra[c]} extra images asked for, but only {len(more)} are "
                f"outside the subset of {counts[c]}"
            )
        idx.append(more)
    return _rows(full, torch.cat(idx), "extra real")


def _class_orders(full: ImageData, seed: int) -> list[torch.Tensor]:
    """Per class, its row indices in the seed's random order (the subset takes a prefix)."""
    g = torch.Generator().manual_seed(seed)
    orders = []
    for c in range(len(full.class_names)):
        rows = torch.nonzero(full.labels == c).squeeze(1)
        orders.append(rows[torch.randperm(rows.numel(), generator=g)])
    return orders


def _rows(full: ImageData, idx: torch.Tensor, what: str) -> ImageData:
    return ImageData(full.images[idx], full.labels[idx], full.class_names, what)


class Rows(torch.utils.data.Dataset):
    """(uint8 CHW image, int label) items of an ImageData, with torchvision's ``targets`` and
    ``classes``: the real dataset ``GANAugmented`` wraps."""

    def __init__(self, data: ImageData) -> None:
        self.data, self.targets, self.classes = data, data.labels, data.class_names

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.data.images[i], int(self.data.labels[i])


# ---- the classifier and the non-generative fixes ---------------------------------------------
def log_prior(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """log of the class frequencies: the logit adjustment's offsets."""
    return torch.bincount(labels, minlength=num_classes).double().div(len(labels)).log().float()


def batch_indices(
    weights: torch.Tensor | None, n: int, *, steps: int, batch: int, seed: int
) -> torch.Tensor:
    """(steps, batch) row indices: uniform over ``n`` rows, or ``WeightedRandomSampler``'s draw."""
    w = torch.ones(n, dtype=torch.double) if weights is None else weights
    g = torch.Generator().manual_seed(seed)
    sampler = torch.utils.data.WeightedRandomSampler(w, steps * batch, generator=g)
    return torch.tensor(list(sampler)).view(steps, batch)


def fit(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_classes: int,
    steps: int,
    seed: int,
    weights: torch.Tensor | None = None,
    adjust: torch.Tensor | None = None,
    aug: bool = False,
    batch: int = 64,
    init: nn.Module | None = None,
    max_lr: float = LR,
    targets: torch.Tensor | None = None,
    row_weight: torch.Tensor | None = None,
) -> DomainClassifier:
    """Train the small CNN on uint8 ``images``: ``steps`` batches drawn by ``weights`` (None:
    uniform), cross-entropy on ``logits + adjust`` when given (the logit-adjusted loss; the
    returned model predicts with the plain logits). ``init``: start from a copy of this
    model's weights (a fine-tune) instead of a fresh one. ``targets``: (N, K) class
    probabilities per row, the loss's targets instead of ``labels`` (soft labels).
    ``row_weight``: (N,) factors of each row's cross-entropy in the batch mean (None: 1)."""
    transform = classical_aug() if aug else None
    order = batch_indices(weights, len(labels), steps=steps, batch=batch, seed=seed)
    with torch.random.fork_rng(devices=[]):  # v2 draws from the global RNG: seed it, restore it
        torch.manual_seed(seed)
        model = DomainClassifier(image_shape=tuple(images.shape[1:]), num_classes=num_classes)
        if init is not None:
            model.load_state_dict(init.state_dict())  # a copy: ``init`` is left as it was
        opt = torch.optim.Adam(model.parameters(), lr=max_lr)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=steps)
        model.train()
        for i in order:
            x, y = images[i], labels[i] if targets is None else targets[i]
            if transform is not None:
                x = torch.stack([transform(im) for im in x])  # per-item random parameters
            logits = model(x.float() / 127.5 - 1)
            if adjust is not None:
                logits = logits + adjust
            if row_weight is None:
                loss = nn.functional.cross_entropy(logits, y)
            else:
                ce = nn.functional.cross_entropy(logits, y, reduction="none")
                loss = (ce * row_weight[i]).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


def smote(data: ImageData, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """imbalanced-learn's SMOTE on flattened pixels: every class up to the largest."""
    from imblearn.over_sampling import SMOTE

    n, shape = len(data), data.images.shape[1:]
    smallest = int(torch.bincount(data.labels).min())
    if smallest < 2:
        raise ValueError(
            f"SMOTE interpolates within a class: expected >= 2 images each, got {smallest}"
        )
    k = min(5, smallest - 1)
    x, y = SMOTE(k_neighbors=k, random_state=seed).fit_resample(
        data.images.reshape(n, -1).float().numpy(),  # float: uint8 differences would wrap
        data.labels.numpy(),
    )
    x = torch.as_tensor(x).float().round().clamp(0, 255).to(torch.uint8)
    return x.reshape(-1, *shape), torch.as_tensor(y, dtype=torch.int64)


# ---- ganaug ----------------------------------------------------------------------------------
def train_gan(
    data: ImageData, *, recipe: str, seed: int, workdir: Path, steps: int | None = None
) -> ganaug.Generator:
    """``ganaug.train`` with its defaults plus the recipe's options (``steps`` overrides its
    length, for --quick); a file already in ``workdir`` for the same images and recipe is
    reused."""
    short, options = GAN_RECIPES[recipe]
    tag = f"s{seed}-{short}-{steps or 'default'}"
    out = workdir / f"gan-{tag}-{fingerprint(data.images)[:12]}.safetensors"
    if not out.exists():
        options = {**options, "steps": steps} if steps else options
        ganaug.train(data, out=out, overwrite=True, progress=False, seed=seed, **options)
    return ganaug.load(out)


def topup(level: str, labels: torch.Tensor) -> str | dict[int, int]:
    """The ``sampling_strategy`` of a top-up level: "auto", or "5x" = each class to 5 x its
    real count, capped at the largest class; "2x every class" = each class to 2 x, uncapped
    (the large ones too)."""
    if level == "auto":
        return "auto"
    counts = torch.bincount(labels)
    factor = float(level.removesuffix(" every class").rstrip("x"))
    want = {c: max(int(n), round(factor * int(n))) for c, n in enumerate(counts)}
    if level.endswith(" every class"):
        return want
    return {c: min(int(counts.max()), n) for c, n in want.items()}


def augmented(real: ImageData, source: Any, strategy: Any, seed: int):
    """All rows of ``GANAugmented(real, source, sampling_strategy=strategy)`` as tensors."""
    ds = ganaug.GANAugmented(Rows(real), source, sampling_strategy=strategy, seed=seed)
    syn = [ds[i][0] for i in range(ds.n_real, len(ds))]
    images = torch.cat([real.images, torch.stack(syn)]) if syn else real.images
    return images, ds.targets.clone()


# ---- metrics ---------------------------------------------------------------------------------
@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([model(x.float() / 127.5 - 1).argmax(1) for x in images.split(1000)])


def scores(
    y: torch.Tensor, pred: torch.Tensor, smallest: list[int], num_classes: int
) -> dict[str, Any]:
    """ACSA, G-mean, macro F1 and the mean recall of the ``smallest`` classes."""
    from imblearn.metrics import geometric_mean_score
    from sklearn.metrics import balanced_accuracy_score, f1_score, recall_score

    yt, yp = y.numpy(), pred.numpy()
    recall = recall_score(yt, yp, average=None, labels=list(range(num_classes)))
    return {
        "acsa": float(balanced_accuracy_score(yt, yp)),
        "gm": float(geometric_mean_score(yt, yp, average="multiclass")),
        "f1": float(f1_score(yt, yp, average="macro")),
        "minority_acc": float(recall[smallest].mean()),
        "recall": [round(float(r), 4) for r in recall],
    }


def class_share(
    judge: nn.Module, images: torch.Tensor, labels: torch.Tensor, k: int
) -> list[float]:
    """Per class of ``k``, the share of its ``images`` (uint8) that ``judge`` puts in it."""
    hit = predict(judge, images) == labels
    return [float(hit[labels == c].float().mean()) for c in range(k)]


def class_fidelity(gen: ganaug.Generator, judge: nn.Module, per_class: int = 500) -> list[float]:
    """Per class, the share of ``gen``'s samples of that class that ``judge`` (a classifier
    trained on all 60,000 real training images) puts in it."""
    labels = torch.arange(gen.num_classes).repeat_interleave(per_class)
    x, _ = gen.sample(len(labels), labels=labels, seed=7)
    return class_share(judge, x, labels, gen.num_classes)


# ---- one run ---------------------------------------------------------------------------------
def run_one(
    full: ImageData, test: ImageData, *, protocol: str, seed: int, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Every condition for one (protocol, seed): trained on the split's training part, chosen
    on its validation part, scored on the test set. One JSON row per condition."""
    counts = class_counts(protocol, args.scale)
    tr, va = imbalanced_split(full, counts, seed)
    reuse = {
        (r["protocol"], r["seed"], r["condition"]): r
        for r in args.reused
        if r.get("clf_steps") == args.clf_steps and r.get("scale", 1.0) == args.scale
    }
    k = len(full.class_names)
    smallest = sorted(counts, key=lambda c: (counts[c], c))[:3]
    common = {"num_classes": k, "steps": args.clf_steps, "seed": seed}
    rows: list[dict[str, Any]] = []

    def record(name: str, train: Callable[[], nn.Module], **extra: Any) -> float:
        """Score ``train()``'s model, or reuse the row of an earlier run with the same
        settings (and, for a variant, the same base); returns the validation ACSA. A variant
        left out of ``--variants`` is skipped."""
        if name in GAN_VARIANTS and name not in args.variants:
            return float("nan")
        old = reuse.get((protocol, seed, name))
        if old is not None and old.get("base") == extra.get("base"):
            rows.append(old)
            print(f"{protocol} seed={seed} {name:24s} (reused)", flush=True)
            return old["val_acsa"]
        model = train()
        val = scores(va.labels, predict(model, va.images), smallest, k)
        row = {"protocol": protocol, "condition": name, "seed": seed}
        row.update(scores(test.labels, predict(model, test.images), smallest, k))
        row.update({"val_acsa": val["acsa"], "val_minority_acc": val["minority_acc"]})
        row.update({"clf_steps": args.clf_steps, "scale": args.scale, **extra})
        rows.append(row)
        print(
            f"{protocol} seed={seed} {name:24s} test ACSA {100 * row['acsa']:.2f} "
            f"minority {100 * row['minority_acc']:.2f} | val ACSA {100 * val['acsa']:.2f}",
            flush=True,
        )
        return val["acsa"]

    x, y = tr.images, tr.labels
    w, adj = balancing_weights(y), log_prior(y, k)
    record("plain", lambda: fit(x, y, **common))
    record("resample", lambda: fit(x, y, weights=w, **common))
    record("logit-adjusted", lambda: fit(x, y, adjust=adj, **common))
    # the resample +aug model also judges the confidence-filtered top-ups: trained once
    resample_aug = functools.cache(lambda: fit(x, y, weights=w, aug=True, **common))
    record("resample +aug", resample_aug)
    record("logit-adjusted +aug", lambda: fit(x, y, adjust=adj, aug=True, **common))
    record("smote", lambda: fit(*smote(tr, seed), **common))
    # the pretrain / fine-tune schedule on real rows alone: what the schedule is worth
    record("resample +aug, two-phase", lambda: pretrain_fine_tune(x, y, x, y, **common))

    def resample_aug_plus(images: torch.Tensor, labels: torch.Tensor) -> nn.Module:
        """resample +aug on the real rows followed by these."""
        xe, ye = torch.cat([x, images]), torch.cat([y, labels])
        return fit(xe, ye, weights=balancing_weights(ye), aug=True, **common)

    def ceiling(level: str) -> nn.Module:
        """resample +aug with the top-up's rows (the library's count: exactly what
        ``GANAugmented`` adds) drawn from real images outside the subset."""
        more = extra_real(
            full, counts, seed, resolve_sampling_strategy(topup(level, y), y, num_classes=k)
        )
        return resample_aug_plus(more.images, more.labels)

    for name, level in CEILINGS.items():  # what a generator of exactly the real images gives
        record(name, lambda level=level: ceiling(level))
    if not args.recipes:  # --recipes with none: the baselines and the ceiling alone
        return rows

    gens: dict[str, ganaug.Generator] = {}

    def gen(recipe: str) -> ganaug.Generator:
        if recipe not in gens:
            gens[recipe] = train_gan(
                tr, recipe=recipe, seed=seed, workdir=args.workdir, steps=args.gan_steps
            )
        return gens[recipe]

    @functools.cache  # one generation per (recipe, level, filter), whatever is trained on it
    def topped_up(recipe: str, level: str, how: str = "plain") -> tuple[torch.Tensor, ...]:
        source = gen(recipe)
        if how == "filter":
            source = FilteredSource(source, method="drs", max_tries=8)
        elif how == "confidence":
            source = FilteredSource(
                source, method="confidence", classifier=resample_aug(), threshold=0.9, max_tries=8
            )
        return augmented(tr, source, topup(level, y), seed + 1000)

    @functools.cache  # "2x +resample +aug" is "+resample +aug" when 2x won: fitted once
    def fit_on(recipe: str, level: str, how: str = "plain", **options: Any) -> nn.Module:
        xa, ya = topped_up(recipe, level, how)
        if options.pop("adjusted", False):
            options["adjust"] = log_prior(ya, k)
        if options.pop("resample", False):
            options["weights"] = balancing_weights(ya)
        syn_weight = options.pop("syn_weight", None)
        if syn_weight is not None:  # real rows come first (``augmented``)
            options["row_weight"] = torch.full((len(ya),), float(syn_weight))
            options["row_weight"][: len(y)] = 1.0
        return fit(xa, ya, **options, **common)

    def entropy_selected(recipe: str, level: str) -> nn.Module:
        """resample +aug on the real rows plus the top-up's rows picked by
        :func:`entropy_pick`."""
        need = resolve_sampling_strategy(topup(level, y), y, num_classes=k)
        return resample_aug_plus(*entropy_pick(gen(recipe), resample_aug(), need, seed + 2000))

    val_of = {}
    bases = tuple(n for n in GAN_BASES if n.split()[0] in args.recipes)
    for name in bases:
        recipe, level = name.split()
        val_of[name] = record(name, lambda r=recipe, lv=level: fit_on(r, lv))
    best = max(bases, key=lambda n: (val_of[n], -GAN_BASES.index(n)))
    recipe, level = best.split()
    record(
        "ganaug +resample +aug", lambda: fit_on(recipe, level, resample=True, aug=True), base=best
    )
    record("ganaug +logit-adjusted", lambda: fit_on(recipe, level, adjusted=True), base=best)
    record("ganaug +filter", lambda: fit_on(recipe, level, "filter"), base=best)
    record(
        "ganaug 2x +resample +aug",
        lambda: fit_on(recipe, "2x", resample=True, aug=True),
        base=f"{recipe} 2x",
    )
    record("ganaug +confidence", lambda: fit_on(recipe, level, "confidence"), base=best)
    record(
        "ganaug 2x +confidence +resample +aug",
        lambda: fit_on(recipe, "2x", "confidence", resample=True, aug=True),
        base=f"{recipe} 2x",
    )
    for name, (lv, share, lr) in PRETRAIN.items():
        record(
            name,
            lambda lv=lv, share=share, lr=lr: pretrain_fine_tune(
                *topped_up(recipe, lv), x, y, fine_tune=share, fine_tune_lr=lr, **common
            ),
            base=f"{recipe} {lv}",
        )
    for name, lv in TEACHER_VARIANTS.items():
        record(
            name,
            lambda lv=lv: pretrain_fine_tune(
                *topped_up(recipe, lv),
                x,
                y,
                targets=teacher_targets(resample_aug(), *topped_up(recipe, lv), n_real=len(y), k=k),
                **common,
            ),
            base=f"{recipe} {lv}",
        )
    for name, weight in SYN_WEIGHTS.items():  # (not ``w``: the real rows' sampling weights)
        record(
            name,
            lambda weight=weight: fit_on(recipe, "2x", resample=True, aug=True, syn_weight=weight),
            base=f"{recipe} 2x",
        )
    record(ENTROPY_VARIANT, lambda: entropy_selected(recipe, "2x"), base=f"{recipe} 2x")
    record(
        EVERY_CLASS,
        lambda: fit_on(recipe, "2x every class", resample=True, aug=True),
        base=f"{recipe} 2x",
    )
    return rows


def entropy_pick(
    source: Any, judge: nn.Module, need: dict[int, int], seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``need[c]`` samples of each class c: of ENTROPY_POOL x as many drawn from ``source``,
    the ones ``judge`` is least sure of (highest softmax entropy), as uint8 (images, labels)."""
    pool = torch.cat([torch.full((ENTROPY_POOL * n,), c) for c, n in need.items()])
    xs, ys = source.sample(len(pool), labels=pool, seed=seed)
    entropy = entropy_under(judge, xs)
    keep = []
    for c, n in need.items():
        rows = torch.nonzero(ys == c).squeeze(1)
        keep.append(rows[entropy[rows].argsort(descending=True, stable=True)[:n]])
    keep = torch.cat(keep)
    return xs[keep], ys[keep]


@torch.no_grad()
def entropy_under(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """(N,) entropy of ``model``'s softmax on uint8 ``images``."""
    logp = torch.cat([model(x.float() / 127.5 - 1).log_softmax(1) for x in images.split(1000)])
    return -(logp.exp() * logp).sum(1)


@torch.no_grad()
def teacher_targets(
    teacher: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, n_real: int, k: int
) -> torch.Tensor:
    """(N, K) targets: one-hot for the first ``n_real`` (real) rows; for the synthetic rows after
    them, :data:`TEACHER` of their class plus the rest of ``teacher``'s softmax (``k``
    classes)."""
    out = nn.functional.one_hot(labels, k).float()
    syn = images[n_real:]
    if len(syn):
        probs = torch.cat([teacher(x.float() / 127.5 - 1).softmax(1) for x in syn.split(1000)])
        out[n_real:] = TEACHER * out[n_real:] + (1 - TEACHER) * probs
    return out


def pretrain_fine_tune(
    xa: torch.Tensor,
    ya: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    num_classes: int,
    steps: int,
    seed: int,
    fine_tune: float = FINE_TUNE,
    fine_tune_lr: float = LR / 2,
    targets: torch.Tensor | None = None,
) -> nn.Module:
    """The same step budget in two parts, both resampled and augmented: the first on the
    topped-up rows (``xa``, ``ya``: real + synthetic), the last ``fine_tune`` share on the
    real rows (``x``, ``y``) alone from those weights, peaking at ``fine_tune_lr`` (half the
    learning rate), so what the synthetic rows get wrong (a class drawn like another) is
    trained out on real images. ``targets``: soft targets of the topped-up rows (see
    :func:`fit`)."""
    n_ft = max(1, round(steps * fine_tune))
    common = {"num_classes": num_classes, "aug": True}
    pre = fit(
        xa,
        ya,
        weights=balancing_weights(ya),
        steps=steps - n_ft,
        seed=seed,
        targets=targets,
        **common,
    )
    return fit(
        x,
        y,
        weights=balancing_weights(y),
        steps=n_ft,
        seed=seed + 1,
        init=pre,
        max_lr=fine_tune_lr,
        **common,
    )


# ---- summary ---------------------------------------------------------------------------------
def _mean_sd(v: list[float]) -> tuple[float, float]:
    return statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0


def best_by_validation(rows: list[dict[str, Any]], names: tuple[str, ...]) -> str:
    """The condition among ``names`` with the highest mean validation ACSA over seeds."""
    val = {n: [r["val_acsa"] for r in rows if r["condition"] == n] for n in names}
    return max((n for n in names if val[n]), key=lambda n: statistics.mean(val[n]))


def summary(rows: list[dict[str, Any]], protocol: str) -> tuple[str, dict[str, Any]]:
    """Markdown for one protocol: mean +- std (%) of every metric per condition, each
    condition's per-seed ACSA and minority difference from the best baseline (chosen on
    validation), and the goal's verdict."""
    rows = [r for r in rows if r["protocol"] == protocol]
    seeds = sorted({r["seed"] for r in rows})
    by = {c: [r for r in rows if r["condition"] == c] for c in CONDITIONS}
    base = best_by_validation(rows, BASELINES)
    ran = tuple(c for c in GAN_BASES + GAN_VARIANTS if by[c])
    ours = best_by_validation(rows, ran) if ran else None
    lines = [
        f"### {protocol} ({len(seeds)} seeds: {seeds})",
        "",
        "| condition | ACSA | G-mean | macro F1 | 3 smallest | val ACSA | ACSA - best baseline "
        "| 3 smallest - best baseline |",
        "|---|---|---|---|---|---|---|---|",
    ]
    ref = {r["seed"]: r for r in by[base]}

    def gaps(c: str, m: str) -> list[float]:  # per seed, condition minus the best baseline (%)
        return [100 * (r[m] - ref[r["seed"]][m]) for r in by[c]]

    for c in CONDITIONS:
        if not by[c]:
            continue
        cells = []
        for m in (*METRICS, "val_acsa"):
            mu, sd = _mean_sd([100 * r[m] for r in by[c]])
            cells.append(f"{mu:.2f} ± {sd:.2f}")
        for m in ("acsa", "minority_acc"):
            mu, sd = _mean_sd(gaps(c, m))
            cells.append(f"{mu:+.2f} ± {sd:.2f}")
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    verdict: dict[str, Any] = {"best_baseline": base, "best_ganaug": ours}
    ceiling = []
    for c in CEILINGS:
        if by[c]:  # mean per-seed gain over the best baseline: what a perfect generator adds
            gain = {m: statistics.mean(gaps(c, m)) for m in ("acsa", "minority_acc")}
            verdict.setdefault("ceiling", {})[c] = gain
            ceiling.append(
                f"- Ceiling, {c} (real images, not a generator): ACSA {gain['acsa']:+.2f}, "
                f"3 smallest {gain['minority_acc']:+.2f} points over the best baseline"
            )
    if ours is None:
        lines += ["", f"Chosen on validation ACSA: best baseline **{base}**; no ganaug rows."]
        return "\n".join(lines + ceiling), verdict
    for m in ("acsa", "minority_acc"):
        a = [100 * r[m] for r in by[ours]]
        b = [100 * r[m] for r in by[base]]
        (ma, sa), (mb, sb) = _mean_sd(a), _mean_sd(b)
        verdict[m] = {
            "ganaug": ma,
            "baseline": mb,
            "gap": ma - mb,
            "std": max(sa, sb),
            "met": len(a) >= 3 and ma - mb > max(sa, sb),  # the bar: >= 3 seeds
        }
    lines += [
        "",
        f"Chosen on validation ACSA: best baseline **{base}**, best ganaug condition **{ours}**.",
    ]
    for m, what in (("acsa", "ACSA"), ("minority_acc", "3-smallest accuracy")):
        v = verdict[m]
        lines.append(
            f"- {what}: {v['ganaug']:.2f} vs {v['baseline']:.2f}, gap {v['gap']:+.2f} points, "
            f"larger std {v['std']:.2f}: goal (gap > std, >= 3 seeds) "
            f"{'MET' if v['met'] else 'not met'}"
        )
    return "\n".join(lines + ceiling), verdict


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="1 seed, a quarter of the data, short")
    p.add_argument("--protocols", nargs="+", choices=list(PROTOCOLS), default=list(PROTOCOLS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--clf-steps", type=int, default=1500, help="batches of 64 per classifier")
    p.add_argument("--gan-steps", type=int, default=None, help="(default: ganaug.train's)")
    p.add_argument(
        "--recipes",
        nargs="*",
        choices=list(GAN_RECIPES),
        default=list(GAN_RECIPES),
        help="the GAN recipes to train (the variants build on the best of these; none: no "
        "GAN, only the baselines and the ceiling)",
    )
    p.add_argument(
        "--variants",
        nargs="+",
        choices=GAN_VARIANTS,
        default=list(GAN_VARIANTS),
        metavar="NAME",
        help="the ganaug variants to run (default: all); with --reuse, a new variant alone",
    )
    p.add_argument("--scale", type=float, default=1.0, help="shrink the class counts")
    p.add_argument("--root", default=None, help="where Fashion-MNIST lives")
    p.add_argument("--json", default=None, help="default: benchmarks/results/imbalance.json")
    p.add_argument("--workdir", default=None, help="keep the GAN files here and reuse them")
    p.add_argument(
        "--merge",
        nargs="+",
        default=None,
        metavar="JSON",
        help="train nothing: join these runs' rows into --json and print the summary",
    )
    p.add_argument(
        "--judge",
        nargs="+",
        default=None,
        metavar="GAN",
        help="train nothing: per class, the share of these models' samples that a classifier "
        "of all real training images puts in their class (first line: the same share of the "
        "real test images)",
    )
    p.add_argument(
        "--reuse",
        nargs="+",
        action="extend",  # a repeated --reuse adds its files, not replaces the first's
        default=[],
        metavar="JSON",
        help="rows of earlier runs (same --clf-steps) to keep instead of training again",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    here = Path(__file__).resolve().parent
    if args.quick:
        args.seeds, args.scale, args.clf_steps, args.gan_steps = [0], 0.25, 60, 40
    if args.json is None:
        if args.quick:
            raise SystemExit("--quick needs --json (the real results file is not overwritten)")
        args.json = str(here / "results" / "imbalance.json")
    out = Path(args.json)
    if args.merge:  # the last row of each (protocol, seed, condition) wins
        joined = {
            (r["protocol"], r["seed"], r["condition"]): r
            for f in args.merge
            for r in json.loads(Path(f).read_text())
            if r["condition"] in CONDITIONS
        }
        rows = sorted(
            joined.values(),
            key=lambda r: (
                list(PROTOCOLS).index(r["protocol"]),
                r["seed"],
                CONDITIONS.index(r["condition"]),
            ),
        )
        out.write_text(json.dumps(rows, indent=1))
        for protocol in sorted({r["protocol"] for r in rows}, key=list(PROTOCOLS).index):
            print("\n" + summary(rows, protocol)[0])
        return 0
    if importlib.util.find_spec("imblearn") is None:
        raise SystemExit(
            "benchmarks/imbalance.py needs imbalanced-learn: pip install 'ganaug[bench]'"
        )
    if args.judge:
        from ganaug.metrics import domain_classifier

        torch.set_num_threads(1)
        full = load_dataset("fashion-mnist", root=args.root)
        judge = domain_classifier(full.images, full.labels).eval()
        test = load_dataset("fashion-mnist:test", root=args.root)
        real = class_share(judge, test.images, test.labels, len(full.class_names))  # reference
        print("real test images: " + " ".join(f"{100 * v:3.0f}" for v in real))
        for path in args.judge:
            share = class_fidelity(ganaug.load(path), judge)
            print(f"{Path(path).name}: " + " ".join(f"{100 * v:3.0f}" for v in share))
        return 0
    args.reused = [r for f in args.reuse for r in json.loads(Path(f).read_text())]
    torch.set_num_threads(1)
    full = load_dataset("fashion-mnist", root=args.root)
    test = load_dataset("fashion-mnist:test", root=args.root)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        args.workdir = Path(args.workdir or tmp)
        args.workdir.mkdir(parents=True, exist_ok=True)
        for protocol in args.protocols:
            for seed in args.seeds:
                t0 = time.time()
                rows += run_one(full, test, protocol=protocol, seed=seed, args=args)
                print(f"{protocol} seed={seed}: {time.time() - t0:.0f} s", flush=True)
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(rows, indent=1))  # partial figures survive a stop
    for protocol in args.protocols:
        print("\n" + summary(rows, protocol)[0])
    print(f"\ncommand: python benchmarks/imbalance.py {' '.join(sys.argv[1:])}")
    print(f"rows: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
