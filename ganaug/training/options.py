"""``TrainConfig``: every training option, declared once.

Each field carries its help text; ``ganaug train`` builds its flags, their types, defaults and
help from these fields (:func:`ganaug.cli.train.add_parser`), and ``ganaug.train(**options)``
takes the same names. This module imports nothing heavy, so ``ganaug --help`` stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TrainConfig", "MUTABLE", "IMBALANCE_RATIO", "option_defaults"]

# balance_classes=None (the default) balances real batches from this ratio of the largest class
# to the smallest on (measured at 100 in benchmarks/imbalance.py; off for balanced data)
IMBALANCE_RATIO = 3.0

# Settings that may change between a run and its --resume: the length and the records, and the
# learning rates (the fix to try after a divergence: resume the last good checkpoint, lower lr).
MUTABLE = (
    "lr_g",
    "lr_d",
    "lr_decay",
    "steps",
    "epochs",
    "log_every",
    "sample_every",
    "checkpoint_every",
    "eval_every",
    "eval_samples",
    "time_limit",
)


NOT_CLI = ("flag", "before")  # field metadata that is not an argparse keyword


def _opt(default: Any, help: str, *, before: Any = dataclasses.MISSING, **cli: Any) -> Any:
    """A field with its ``--help`` text (and any argparse keywords for its flag). ``before``:
    what a run did before the option existed, where that differs from its default (a resumed
    old checkpoint goes on doing it)."""
    factory = {"default_factory": default} if callable(default) else {"default": default}
    old = {} if before is dataclasses.MISSING else {"before": before}
    return field(metadata={"help": help, **old, **cli}, **factory)


@dataclass
class TrainConfig:
    """Training settings (``ganaug train --help`` lists each with its default).

    ``steps`` counts generator updates (each after ``n_critic`` discriminator updates);
    ``epochs`` converts to steps by the data size; ``time_limit`` is in minutes of wall clock.
    """

    arch: str = _opt(
        "cdcgan",
        "architecture: cdcgan (conv, z times a label embedding), dcgan (conv, label "
        "concatenated) or mlp (the classic MLP GAN)",
    )
    conditional: bool | None = _opt(
        None,
        "ignore the labels and train an unconditional model (default: class-conditional when "
        "the data has labels)",
        flag="--unconditional",
        action="store_const",
        const=False,
    )
    loss: str = _opt("minimax", "minimax (non-saturating) | hinge | wgan-gp | lsgan")
    steps: int | None = _opt(None, "generator updates (overrides --epochs)")
    epochs: float | None = _opt(
        None, "passes over the data (default: 10 when neither --steps nor --time-limit is set)"
    )
    batch_size: int = _opt(64, "images per step and process")
    balance_classes: bool | None = _opt(
        None,
        "draw real batches class-balanced (with replacement, each class equally often, or as "
        "far as --balance-power says), so a "
        "rare class gets as many updates as a common one (default: on when the largest class "
        f"has at least {IMBALANCE_RATIO:g}x the images of the smallest, off otherwise)",
        action=argparse.BooleanOptionalAction,
        before=False,  # batches followed the data
    )
    balance_power: float = _opt(
        1.0,
        "how far --balance-classes goes: class c is drawn in proportion to count_c ** (1 - p), "
        "so 1 draws every class equally often, 0.5 is square-root sampling (rare classes "
        "drawn more often than in the data, but less than the common ones), 0 follows the data; "
        "a value other than 1 turns --balance-classes on",
    )
    lr_g: float = _opt(8e-4, "generator Adam learning rate")
    lr_d: float = _opt(8e-4, "discriminator Adam learning rate")
    lr_decay: float = _opt(
        0.5,
        "fraction of the run, at its end, over which both learning rates fall linearly to 0 "
        "(0 = constant); it needs a known length (--steps or --epochs): a run bounded by "
        "--time-limit alone keeps them constant",
    )
    beta1: float = _opt(0.5, "Adam beta1")
    beta2: float = _opt(0.999, "Adam beta2")
    n_critic: int = _opt(1, "discriminator updates per generator update")
    gp_weight: float = _opt(10.0, "gradient penalty weight of --loss wgan-gp")
    spectral_norm: bool = _opt(False, "spectral norm in the discriminator")
    ema: float = _opt(0.999, "EMA decay of the sampling generator (0 = off)")
    diffaugment: str = _opt(
        "", "DiffAugment policy: a comma list of translation,cutout,color (default: off)"
    )
    mode_seeking: float = _opt(
        0.0,
        "weight of the mode-seeking (MSGAN) term against a generator that ignores z, as on tiny "
        "data sets (0 = off; 1 is the paper's value)",
    )
    lecam: float = _opt(
        0.3,
        "weight of the LeCam regulariser on D (Tseng et al. 2021): it pulls D's outputs on real "
        "images towards the running mean of its outputs on generated ones and back, so that D "
        "does not overfit (0 = off; the paper uses 0.1-0.3)",
        before=0.0,  # no regulariser
    )
    lecam_decay: float = _opt(0.99, "EMA decay of LeCam's anchors (the mean D outputs)")
    r1: float = _opt(
        0.0,
        "weight gamma of the zero-centred R1 penalty gamma/2 |grad_x D(x)|^2 on real images "
        "(Mescheder et al. 2018), against a discriminator that outgrows G (0 = off; "
        "StyleGAN2-ADA uses 0.01-1 for small images)",
    )
    r1_every: int = _opt(
        16, "apply --r1 lazily: every N steps, weighted by N (StyleGAN2; 1 = every step)"
    )
    latent_dim: int = _opt(100, "size of z")
    arch_args: dict[str, Any] = _opt(
        dict, 'architecture options as JSON, e.g. \'{"g_width": 64, "d_width": 64}\''
    )
    seed: int = _opt(0, "seed of the initial weights, the data order and every draw")
    log_every: int = _opt(50, "steps between log.csv rows (and time-limit checks)")
    sample_every: int = _opt(500, "steps between sample grids in the run folder (0 = at the end)")
    checkpoint_every: int = _opt(500, "steps between checkpoints")
    eval_every: int = _opt(
        2000,
        "steps between evaluations (FD, recall, coverage against real images) for "
        "best-checkpoint selection; 0 = off, and a run shorter than this exports its last step",
    )
    eval_samples: int = _opt(2000, "samples per evaluation")
    precision: str = _opt(
        "auto",
        "number format of the forward passes: auto = bf16 autocast on CUDA and on CPUs with "
        "native bf16 units (AMX, AVX-512 BF16), fp32 elsewhere; losses, optimiser and EMA stay "
        "fp32",
    )
    time_limit: float | None = _opt(
        None,
        "stop after this many minutes of wall clock (checked at log steps); alone, without "
        "--steps or --epochs, the run lasts until then",
    )

    def __post_init__(self) -> None:
        from ..models import list_archs
        from ..sources.base import PRECISIONS
        from .diffaugment import parse_policy
        from .losses import check_loss

        if self.arch not in list_archs():
            raise ValueError(f"unknown --arch {self.arch!r}; expected one of {list_archs()}")
        check_loss(self.loss)
        self.policy = parse_policy(self.diffaugment)
        for name in ("batch_size", "n_critic", "latent_dim", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"expected {name} >= 1, got {getattr(self, name)}")
        if self.steps is not None and self.steps < 0 or (self.epochs or 0) < 0:
            raise ValueError(f"expected steps/epochs >= 0, got {self.steps}/{self.epochs}")
        if not (0.0 <= self.mode_seeking < math.inf):
            raise ValueError(f"expected a finite --mode-seeking >= 0, got {self.mode_seeking}")
        if not (0.0 <= self.lecam < math.inf) or not (0.0 <= self.lecam_decay < 1.0):
            raise ValueError(
                f"expected a finite --lecam >= 0 and --lecam-decay in [0, 1), got "
                f"{self.lecam}, {self.lecam_decay}"
            )
        if not (0.0 <= self.r1 < math.inf) or self.r1_every < 1:
            raise ValueError(
                f"expected a finite --r1 >= 0 and --r1-every >= 1, got {self.r1}, {self.r1_every}"
            )
        if not (0.0 <= self.balance_power <= 1.0):
            raise ValueError(f"expected --balance-power in [0, 1], got {self.balance_power}")
        if self.balance_classes is False and self.balance_power != 1.0:
            raise ValueError(
                f"--balance-power {self.balance_power:g} sets how far --balance-classes "
                "balances, but --no-balance-classes turns balancing off; drop one of them"
            )
        if self.precision not in PRECISIONS:
            raise ValueError(f"expected --precision auto, fp32 or bf16, got {self.precision!r}")
        if not (0.0 <= self.ema < 1.0):
            raise ValueError(f"expected --ema decay in [0, 1), got {self.ema}")
        if not (0.0 <= self.lr_decay <= 1.0):
            raise ValueError(f"expected --lr-decay in [0, 1], got {self.lr_decay}")
        if min(self.lr_g, self.lr_d) <= 0 or not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ValueError(
                f"expected lrs > 0 and betas in [0, 1), got lr_g={self.lr_g}, "
                f"lr_d={self.lr_d}, betas=({self.beta1}, {self.beta2})"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def option_defaults() -> dict[str, Any]:
    """Each training option's default: what a checkpoint written before the option existed ran."""
    out = {}
    for f in dataclasses.fields(TrainConfig):
        if "before" in f.metadata:
            out[f.name] = f.metadata["before"]
        elif f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out
