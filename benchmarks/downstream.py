"""Does ganaug's synthetic data help a small classifier that has only k labels per class?

Fashion-MNIST, k labelled training images per class (picked per seed). A class-conditional GAN
is trained with ``ganaug.train`` on those images only (DiffAugment, EMA). A small CNN (ganaug's
``DomainClassifier`` architecture) is then trained with

  (a) real only,  (b) real + classical augmentation (torchvision v2),
  (c) real + ganaug synthetic rows,  (d) (b) + (c),

with and without quality filtering of the synthetic rows (DRS with the model file's
discriminator), and scored on the full 10,000-image test set: mean +- std over seeds.

The synthetic share of each batch is tuned on a validation split carved from the k images per
class (the GAN never sees it); the test set is used for the final scores only. Then the CNN is
retrained on all k images per class with the chosen share.

    python benchmarks/downstream.py --quick                 # 1 seed, k=10, short runs
    python benchmarks/downstream.py --k 10 50 200 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

import ganaug
from ganaug.data import ImageData, load_dataset
from ganaug.filtering import FilteredSource
from ganaug.metrics import DomainClassifier, class_accuracy

CONDITIONS = ("a real", "b real+aug", "c real+syn", "c real+syn+DRS", "d aug+syn", "d aug+syn+DRS")
SHARES = (0.25, 0.5)  # synthetic fraction of each batch, chosen on the validation split


def pick_few(data: ImageData, k: int, seed: int) -> tuple[ImageData, ImageData]:
    """k images per class (seeded), split into (train, validation): k // 5 (>= 1) per class
    are held out for tuning."""
    g = torch.Generator().manual_seed(seed)
    n_val = max(1, k // 5)
    tr, va = [], []
    for c in range(len(data.class_names)):
        rows = torch.nonzero(data.labels == c).squeeze(1)
        rows = rows[torch.randperm(rows.numel(), generator=g)[:k]]
        va.append(rows[:n_val])
        tr.append(rows[n_val:])
    tr_i, va_i = torch.cat(tr), torch.cat(va)
    return (
        ImageData(data.images[tr_i], data.labels[tr_i], data.class_names, f"k={k} train"),
        ImageData(data.images[va_i], data.labels[va_i], data.class_names, f"k={k} val"),
    )


def train_gan(data: ImageData, *, seed: int, steps: int, width: int, workdir: Path) -> Path:
    out = workdir / f"gan-{data.source.replace(' ', '-')}-s{seed}.safetensors"
    ganaug.train(
        data,
        out=out,
        overwrite=True,
        progress=False,
        steps=steps,
        seed=seed,
        diffaugment="translation,cutout",
        arch_args={"g_width": width, "d_width": width},
        sample_every=10**9,
        checkpoint_every=10**9,
        log_every=10**9,
    )
    return out


def classical_aug():
    """torchvision v2 augmentation for 28x28 grayscale items (uint8 tensors)."""
    from torchvision.transforms import v2

    return v2.Compose(
        [
            v2.RandomHorizontalFlip(),
            v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1)),
        ]
    )


def fit(
    real: ImageData,
    *,
    syn: tuple[torch.Tensor, torch.Tensor] | None = None,
    share: float = 0.0,
    aug: bool = False,
    steps: int,
    seed: int,
    batch: int = 64,
) -> DomainClassifier:
    """Train the small CNN for ``steps`` batches: ``share`` of each batch synthetic rows."""
    transform = classical_aug() if aug else None
    n_syn = round(batch * share) if syn is not None else 0
    with torch.random.fork_rng(devices=[]):  # v2 draws from the global RNG: seed it, restore it
        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed)
        model = DomainClassifier(image_shape=real.image_shape, num_classes=10)
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
        model.train()
        for _ in range(steps):
            i = torch.randint(0, len(real), (batch - n_syn,), generator=g)
            x, y = real.images[i], real.labels[i]
            if n_syn:
                j = torch.randint(0, syn[0].shape[0], (n_syn,), generator=g)
                x, y = torch.cat([x, syn[0][j]]), torch.cat([y, syn[1][j]])
            if transform is not None:
                x = torch.stack([transform(im) for im in x])  # per-item random parameters
            loss = nn.functional.cross_entropy(model(x.float() / 127.5 - 1), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


def run_one(
    full: ImageData, test: ImageData, *, k: int, seed: int, args: argparse.Namespace
) -> dict[str, float]:
    """All conditions for one (k, seed): returns test accuracy per condition and the tuning."""
    t0 = time.time()
    tr, va = pick_few(full, k, seed)
    every = ImageData(
        torch.cat([tr.images, va.images]), torch.cat([tr.labels, va.labels]), full.class_names
    )
    gan = ganaug.load(
        train_gan(tr, seed=seed, steps=args.gan_steps, width=args.gan_width, workdir=args.workdir)
    )
    n_pool = args.pool
    pools = {
        False: gan.sample(n_pool, labels="balanced", seed=seed + 1000),
        True: FilteredSource(gan, method="drs", max_tries=8).sample(
            n_pool, labels="balanced", seed=seed + 1000
        ),
    }
    steps = args.clf_steps
    val = {
        s: class_accuracy(fit(tr, syn=pools[False], share=s, steps=steps, seed=seed), *_xy(va))
        for s in SHARES
    }
    share = max(SHARES, key=lambda s: (val[s], -s))  # ties: the smaller share
    out: dict[str, float] = {"share": share, **{f"val share {s}": v for s, v in val.items()}}
    runs = {
        "a real": {},
        "b real+aug": {"aug": True},
        "c real+syn": {"syn": pools[False], "share": share},
        "c real+syn+DRS": {"syn": pools[True], "share": share},
        "d aug+syn": {"syn": pools[False], "share": share, "aug": True},
        "d aug+syn+DRS": {"syn": pools[True], "share": share, "aug": True},
    }
    for name, kw in runs.items():
        out[name] = class_accuracy(fit(every, steps=steps, seed=seed, **kw), *_xy(test))
    out["seconds"] = time.time() - t0
    print(
        f"k={k} seed={seed}: "
        + ", ".join(f"{n} {out[n]:.4f}" for n in CONDITIONS)
        + f" (share {share}, {out['seconds']:.0f} s)",
        flush=True,
    )
    return out


def _xy(d: ImageData) -> tuple[torch.Tensor, torch.Tensor]:
    return d.images, d.labels


def table(results: dict[int, list[dict[str, float]]]) -> str:
    """Markdown: one row per k, mean +- std test accuracy (%) per condition."""
    head = "| k/class | seeds | " + " | ".join(CONDITIONS) + " |"
    lines = [head, "|" + "---|" * (len(CONDITIONS) + 2)]
    for k, runs in sorted(results.items()):
        cells = []
        for c in CONDITIONS:
            v = [100 * r[c] for r in runs]
            sd = statistics.stdev(v) if len(v) > 1 else 0.0
            cells.append(f"{statistics.mean(v):.2f} ± {sd:.2f}")
        lines.append(f"| {k} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="1 seed, k=10, short runs")
    p.add_argument("--k", type=int, nargs="+", default=[10, 50, 200])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--gan-steps", type=int, default=1500)
    p.add_argument("--gan-width", type=int, default=32)
    p.add_argument("--clf-steps", type=int, default=600)
    p.add_argument("--pool", type=int, default=5000, help="synthetic rows per run")
    p.add_argument("--root", default=None, help="where Fashion-MNIST lives")
    p.add_argument("--json", default=None, help="write all per-seed figures here")
    args = p.parse_args(argv)
    if args.quick:
        args.k, args.seeds = [10], [0]
        args.gan_steps, args.clf_steps, args.pool = 200, 150, 1000
    full = load_dataset("fashion-mnist", root=args.root)
    test = load_dataset("fashion-mnist:test", root=args.root)
    results: dict[int, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        args.workdir = Path(tmp)
        for k in args.k:
            results[k] = [run_one(full, test, k=k, seed=s, args=args) for s in args.seeds]
            print(table(results), flush=True)
    settings = {k: v for k, v in vars(args).items() if k != "workdir"}
    print(
        f"\nsettings: {settings}\ncommand: python benchmarks/downstream.py {' '.join(sys.argv[1:])}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": settings, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
