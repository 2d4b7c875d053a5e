"""Does ganaug's synthetic data help a small classifier that has only k labels per class?

Fashion-MNIST, k labelled training images per class (picked per seed); k // 5 of them per class
are a validation split. A class-conditional GAN is trained with ``ganaug.train`` on the k images
per class (the bundled model's recipe plus DiffAugment and the mode-seeking term, 6000 steps). A
small CNN (ganaug's ``DomainClassifier`` architecture) is then trained on the same k images:

  CAS  synthetic rows only, as many as there are real images (how much class information the
       GAN's samples carry, next to (a));
  (a) real only;  (b) real + classical augmentation (torchvision v2 flip + 2-pixel shift);
  (c) real + synthetic rows (``--share`` of each batch, labelled with their class);
  (d) (b) + (c), augmentation on every row; and (d) with the synthetic rows
      +DRS      drawn through discriminator rejection sampling (the model file's D),
      +conf     drawn through classifier-confidence filtering (p >= 0.9 for their class) with
                the run's own (b) classifier, trained on the same k images, as the judge,
      +teacher  labelled 0.5 * their class + 0.5 * the (b) classifier's probabilities;

and scored on the full 10,000-image test set: mean +- std over seeds, and each condition's
difference from (b) on the same seed. The recipe (classifier steps, augmentation, synthetic
share, how synthetic rows enter a batch) was chosen with ``--tune``, which trains the GAN and
the classifiers on the k - k // 5 images and reports validation accuracy only; the test set is
used for the final scores and nothing else.

Every process runs torch on one thread: the same command gives the same figures on any machine
(the thread count changes float summation order), and several can run side by side.

    python benchmarks/downstream.py --quick                  # 1 seed, k=10, short runs
    python benchmarks/downstream.py --k 10 50 --seeds 0 1 2 3 4 --workdir runs/downstream
    python benchmarks/downstream.py --k 200 --seeds 0 1 2 --workdir runs/downstream
    python benchmarks/downstream.py --tune --k 50 200 --seeds 0 1 2 --workdir runs/downstream
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
from ganaug.data import ImageData, fingerprint, load_dataset
from ganaug.metrics import DomainClassifier, class_accuracy
from ganaug.sources import FilteredSource
from ganaug.training.options import option_defaults

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when loaded by path (tests)
from _common import classical_aug  # noqa: E402

CONDITIONS = (
    "CAS syn only",
    "a real",
    "b real+aug",
    "c real+syn",
    "d aug+syn",
    "d +DRS",
    "d +conf",
    "d +teacher",
)
Syn = tuple[torch.Tensor, torch.Tensor]  # uint8 images (N, C, H, W), targets (N, K) float


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


def train_gan(
    data: ImageData,
    *,
    seed: int,
    steps: int,
    width: int,
    mode_seeking: float,
    workdir: Path,
    device: str = "cpu",
) -> Path:
    """``ganaug train``'s defaults (the bundled recipe: cdcgan, non-saturating loss, EMA; before
    issue 12: dcgan, hinge) plus spectral norm, DiffAugment and the mode-seeking term (without
    it the generator maps every z of a class to nearly one image on 8-40 images per class); a
    model file already in ``workdir`` for the same data, seed and settings is reused, and a
    run that was stopped resumes from its last checkpoint (every 500 steps; resume is exact).
    ``device`` is where it trains (the samples are drawn on the CPU)."""
    decay = option_defaults()["lr_decay"]  # in the name: a file of another default is not reused
    tag = f"{data.source.replace(' ', '-')}-s{seed}-w{width}-{steps}steps-ms{mode_seeking}"
    out = workdir / f"gan-{tag}-lrd{decay}-{fingerprint(data.images)[:12]}.safetensors"
    if out.exists():
        return out
    resume = (out.with_suffix(".run") / "checkpoint.pt").exists()
    ganaug.train(
        data,
        out=out,
        device=device,
        resume=resume,
        overwrite=not resume,
        progress=False,
        steps=steps,
        seed=seed,
        diffaugment="translation,cutout",
        spectral_norm=True,
        mode_seeking=mode_seeking,
        arch_args={"g_width": width, "d_width": width},
        sample_every=10**9,
        checkpoint_every=500,
        log_every=500,
    )
    return out


def fit(
    real: ImageData,
    *,
    syn: Syn | None = None,
    share: float = 0.0,
    extra: bool = False,
    aug: bool = False,
    steps: int,
    seed: int,
    batch: int = 64,
) -> DomainClassifier:
    """Train the small CNN for ``steps`` batches of ``batch`` real rows; with ``syn``,
    ``round(batch * share)`` synthetic rows replace real ones (or, with ``extra``, join them).
    Soft-target cross-entropy: real rows' targets are one-hot."""
    transform = classical_aug() if aug else None
    n_syn = round(batch * share) if syn is not None else 0
    n_real = batch if extra else batch - n_syn
    k = len(real.class_names)
    with torch.random.fork_rng(devices=[]):  # v2 draws from the global RNG: seed it, restore it
        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed)
        model = DomainClassifier(image_shape=real.image_shape, num_classes=k)
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
        model.train()
        for _ in range(steps):
            i = torch.randint(0, len(real), (n_real,), generator=g)
            x, t = real.images[i], nn.functional.one_hot(real.labels[i], k).float()
            if n_syn:
                j = torch.randint(0, syn[0].shape[0], (n_syn,), generator=g)
                x, t = torch.cat([x, syn[0][j]]), torch.cat([t, syn[1][j]])
            if transform is not None:
                x = torch.stack([transform(im) for im in x])  # per-item random parameters
            loss = nn.functional.cross_entropy(model(x.float() / 127.5 - 1), t)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


@torch.no_grad()
def probabilities(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([model(x.float() / 127.5 - 1).softmax(1) for x in images.split(1000)])


def pools(gan: ganaug.Generator, judge: nn.Module, *, n: int, seed: int) -> dict[str, Syn]:
    """The synthetic rows of each (d) variant: plain, DRS, confidence-filtered, teacher targets.

    Every pool is the same balanced label sequence drawn from the same seed stream."""
    onehot = lambda y: nn.functional.one_hot(y, gan.num_classes).float()  # noqa: E731
    x, y = gan.sample(n, labels="balanced", seed=seed)
    xd, yd = FilteredSource(gan, method="drs", max_tries=8).sample(n, labels="balanced", seed=seed)
    conf = FilteredSource(gan, method="confidence", threshold=0.9, classifier=judge, max_tries=8)
    xc, yc = conf.sample(n, labels="balanced", seed=seed)
    return {
        "plain": (x, onehot(y)),
        "drs": (xd, onehot(yd)),
        "conf": (xc, onehot(yc)),
        "teacher": (x, 0.5 * onehot(y) + 0.5 * probabilities(judge, x)),
    }


def load_gan(data: ImageData, seed: int, args: argparse.Namespace) -> ganaug.Generator:
    return ganaug.load(
        train_gan(
            data,
            seed=seed,
            steps=args.gan_steps,
            width=args.gan_width,
            mode_seeking=args.gan_mode_seeking,
            workdir=args.workdir,
            device=args.device,
        )
    )


def run_one(
    full: ImageData, test: ImageData, *, k: int, seed: int, args: argparse.Namespace
) -> dict[str, float]:
    """Every condition for one (k, seed), trained on all k images, scored on the test set."""
    t0 = time.time()
    tr, va = pick_few(full, k, seed)
    every = ImageData(
        torch.cat([tr.images, va.images]),
        torch.cat([tr.labels, va.labels]),
        full.class_names,
        f"k={k} all",
    )
    gan = load_gan(every, seed, args)  # refit on all k images, as the classifiers are
    common = {"steps": args.clf_steps, "seed": seed}
    mix = {"share": args.share, "extra": args.extra, **common}
    out: dict[str, float] = {}
    b = fit(every, aug=True, **common)  # (b), also the judge and teacher of the (d) variants
    syn = pools(gan, b, n=args.pool, seed=seed + 1000)
    x, t = syn["plain"]
    only_syn = ImageData(x[: len(every)], t[: len(every)].argmax(1), full.class_names, "synthetic")
    models = {
        "CAS syn only": fit(only_syn, **common),
        "a real": fit(every, **common),
        "b real+aug": b,
        "c real+syn": fit(every, syn=syn["plain"], **mix),
        "d aug+syn": fit(every, syn=syn["plain"], aug=True, **mix),
        "d +DRS": fit(every, syn=syn["drs"], aug=True, **mix),
        "d +conf": fit(every, syn=syn["conf"], aug=True, **mix),
        "d +teacher": fit(every, syn=syn["teacher"], aug=True, **mix),
    }
    for name, model in models.items():
        out[name] = class_accuracy(model, *_xy(test))
    out["seconds"] = time.time() - t0
    print(
        f"k={k} seed={seed}: "
        + ", ".join(f"{n} {out[n]:.4f}" for n in CONDITIONS)
        + f" ({out['seconds']:.0f} s)",
        flush=True,
    )
    return out


def tune_one(full: ImageData, *, k: int, seed: int, args: argparse.Namespace) -> dict[str, float]:
    """Validation accuracy of recipe variants: trained on the k - k // 5 images, scored on the
    k // 5 held out (never the test set)."""
    tr, va = pick_few(full, k, seed)
    gan = load_gan(tr, seed, args)
    out: dict[str, float] = {}
    for steps in args.tune_steps:
        common = {"steps": steps, "seed": seed}
        b = fit(tr, aug=True, **common)
        out[f"{steps} steps: a"] = class_accuracy(fit(tr, **common), *_xy(va))
        out[f"{steps} steps: b"] = class_accuracy(b, *_xy(va))
        syn = pools(gan, b, n=args.pool, seed=seed + 1000)
        for share in args.tune_shares:
            for extra in (False, True):
                how = f"{steps} steps, share {share} {'added' if extra else 'replacing'}"
                for name in ("plain", "drs", "conf", "teacher"):
                    model = fit(tr, syn=syn[name], share=share, extra=extra, aug=True, **common)
                    out[f"{how}: d {name}"] = class_accuracy(model, *_xy(va))
    for name, acc in out.items():
        print(f"k={k} seed={seed} {name}: val {acc:.4f} ({len(va)} images)", flush=True)
    return out


def _xy(d: ImageData) -> tuple[torch.Tensor, torch.Tensor]:
    return d.images, d.labels


def pooled(results: dict[int, list[dict[str, float]]]) -> str:
    """Validation accuracy of each variant over every (k, seed), weighted by the images held out
    (10 * (k // 5) per run): the figure the recipe is chosen by."""
    total: dict[str, float] = {}
    images = 0
    for k, runs in results.items():
        n = 10 * max(1, k // 5)
        images += n * len(runs)
        for run in runs:
            for name, acc in run.items():
                total[name] = total.get(name, 0.0) + n * acc
    lines = [f"validation accuracy pooled over {images} held-out images (k = {sorted(results)}):"]
    for name, acc in sorted(total.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {100 * acc / images:6.2f}  {name}")
    return "\n".join(lines)


def table(results: dict[int, list[dict[str, float]]]) -> str:
    """Markdown: one row per k, mean +- std test accuracy (%) per condition; then each
    condition's per-seed difference from (b) (the seeds share the k images, so this is the
    sharper comparison)."""
    head = "| k/class | seeds | " + " | ".join(CONDITIONS) + " |"
    lines = [head, "|" + "---|" * (len(CONDITIONS) + 2)]
    for k, runs in sorted(results.items()):
        cells = []
        for c in CONDITIONS:
            v = [100 * r[c] for r in runs]
            sd = statistics.stdev(v) if len(v) > 1 else 0.0
            cells.append(f"{statistics.mean(v):.2f} ± {sd:.2f}")
        lines.append(f"| {k} | {len(runs)} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Each condition minus (b) on the same seed (same k images), points, mean ± std:",
        "",
    ]
    others = [c for c in CONDITIONS if c != "b real+aug"]
    lines += ["| k/class | " + " | ".join(others) + " |", "|" + "---|" * (len(others) + 1)]
    for k, runs in sorted(results.items()):
        cells = []
        for c in others:
            v = [100 * (r[c] - r["b real+aug"]) for r in runs]
            sd = statistics.stdev(v) if len(v) > 1 else 0.0
            cells.append(f"{statistics.mean(v):+.2f} ± {sd:.2f}")
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="1 seed, k=10, short runs")
    p.add_argument("--tune", action="store_true", help="validation accuracy of recipe variants")
    p.add_argument("--k", type=int, nargs="+", default=[10, 50, 200])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument(
        "--gan-steps", type=int, default=6000, help="chosen on k = 50 validation over 2000"
    )
    p.add_argument("--gan-width", type=int, default=32)
    p.add_argument("--gan-mode-seeking", type=float, default=0.1)
    p.add_argument(
        "--device", default="cpu", help="where the GANs train, e.g. cuda (classifiers: CPU)"
    )
    p.add_argument("--clf-steps", type=int, default=1000)
    p.add_argument("--share", type=float, default=0.25, help="synthetic rows per batch row")
    p.add_argument(
        "--extra",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="synthetic rows join the batch (default; chosen with --tune) or replace real rows",
    )
    p.add_argument("--pool", type=int, default=3000, help="synthetic rows per run")
    p.add_argument("--tune-steps", type=int, nargs="+", default=[1000])
    p.add_argument("--tune-shares", type=float, nargs="+", default=[0.25, 0.5])
    p.add_argument("--root", default=None, help="where Fashion-MNIST lives")
    p.add_argument("--json", default=None, help="write all per-seed figures here")
    p.add_argument(
        "--workdir", default=None, help="keep the GAN files here and reuse them (default: temp)"
    )
    args = p.parse_args(argv)
    if args.quick:
        args.k, args.seeds = [10], [0]
        args.gan_steps, args.clf_steps, args.pool = 200, 150, 1000
        args.tune_steps = [150]
    torch.set_num_threads(1)
    full = load_dataset("fashion-mnist", root=args.root)
    test = load_dataset("fashion-mnist:test", root=args.root)
    results: dict[int, list[dict[str, float]]] = {}

    def settings() -> dict:
        return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}

    def save() -> None:
        # After every seed, so a run stopped by its time limit keeps the seeds it finished.
        if args.json:
            doc = {"settings": settings(), "results": results}
            Path(args.json).write_text(json.dumps(doc, indent=2))

    with tempfile.TemporaryDirectory() as tmp:
        args.workdir = Path(args.workdir or tmp)
        args.workdir.mkdir(parents=True, exist_ok=True)
        for k in args.k:
            results[k] = []
            for s in args.seeds:
                if args.tune:
                    results[k].append(tune_one(full, k=k, seed=s, args=args))
                else:
                    results[k].append(run_one(full, test, k=k, seed=s, args=args))
                save()
            print(pooled(results) if args.tune else table(results), flush=True)
    print(
        f"\nsettings: {settings()}\n"
        f"command: python benchmarks/downstream.py {' '.join(sys.argv[1:])}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
