"""``AnomalyScorer``: how unlike the GAN's training data an image is, and which class it fits.

Four methods:

- ``"izif"`` (f-AnoGAN, Schlegl et al. 2019): with the fitted encoder E, the score of x under
  class c is ``|x - G(E(x, c), c)|^2 / pixel_var + kappa |f(x) - f(G(E(x, c), c))|^2 /
  feature_var`` (means over elements), f the discriminator's features. Needs an encoder
  (:meth:`AnomalyScorer.fit`, stored in the model file by :meth:`AnomalyScorer.save`).
- ``"discriminator"``: minus the discriminator's logit, ``-D(x, c)``. Cheaper, no encoder.
- ``"combined"``: the pixel residual and minus D's logit, each standardised by its mean and
  standard deviation on real training images, summed (the residual and discrimination terms of
  AnoGAN, Schlegl et al. 2017, with D's own output as the discrimination term). On the bundled
  model's out-of-distribution case the feature residual ranked digits as more normal than
  Fashion-MNIST (benchmarks/RESULTS.md), so this score leaves it out.
- ``"complexity"``: the pixel residual relative to the image's own detail,
  ``log(pixel residual / pixel_var) - 0.75 log(detail)``, detail being the mean square of x
  minus its 5x5 binomial blur (:func:`detail`). G reconstructs a smooth, simple image closely
  whatever it shows, and a detailed image of its own data set less closely; this is the
  input-complexity correction of Serrà et al. 2020 (there for likelihoods, here for a
  reconstruction). The best score here for images unlike the data set (out of distribution);
  the power 0.75 and the detail measure were chosen on the validation proxy of
  ``benchmarks/ood_proxy.py``, not on the test case (benchmarks/RESULTS.md).

``"complexity"`` is the default: on Fashion-MNIST it ranked out-of-distribution images, mislabels
and (one-class) other classes better than the other three (benchmarks/RESULTS.md, session 20).
Higher means more anomalous. A class-conditional model scores x under every class: the lowest
score names the class x fits best, and a given label that scores far above it flags a likely
mislabel (``Scores.mislabel``). Every network call gets the same number of rows (as sampling
does), so an image's score does not depend on the batch it came in.

Example:
    >>> gen = ganaug.load("fashion-mnist")  # doctest: +SKIP
    >>> scorer = ganaug.AnomalyScorer(gen)  # the bundled model ships its encoder
    >>> s = scorer.score(images, labels)  # s.score (N,), s.best_class (N,), s.per_class (N, K)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._images import expect_shape, to_float, to_uint8
from ..sources import Generator, save
from ..sources.base import call_rows, in_calls, use_bf16
from .encoder import METHODS, Encoder, EncoderMeta, build_encoder
from .fitting import check_classes, fit_encoder

__all__ = ["AnomalyScorer", "Scores", "METHODS"]


@dataclass
class Scores:
    """Per-image results of :meth:`AnomalyScorer.score` (all on the CPU).

    Attributes:
        score: (N,) the score under the given label (under the best class when no labels were
            given, or for an unconditional model); higher is more anomalous.
        labels: (N,) the given labels, -1 where none were given.
        best_class: (N,) the class with the lowest score (-1 for an unconditional model).
        per_class: (N, K) the score under each class (None for an unconditional model, or
            when only the given labels were scored).
        scored_class: (N,) the class each ``score`` was taken under (-1: unconditional).
    """

    score: torch.Tensor
    labels: torch.Tensor
    best_class: torch.Tensor
    per_class: torch.Tensor | None
    scored_class: torch.Tensor

    @property
    def has_mislabel(self) -> bool:
        """Whether every image has a given label and was scored under every class."""
        return self.per_class is not None and not bool((self.labels < 0).any())

    @property
    def mislabel(self) -> torch.Tensor:
        """(N,) score under the given label minus the best class's score: >= 0, high = suspect."""
        if not self.has_mislabel:
            raise ValueError("a mislabel score needs given labels scored under every class")
        given = self.per_class.gather(1, self.labels[:, None]).squeeze(1)
        return given - self.per_class.min(dim=1).values

    def under_best_class(self) -> Scores:
        """The same results with ``score`` taken under the best class (labels kept)."""
        if self.per_class is None:
            return self
        best = self.per_class.min(dim=1).values
        return Scores(best, self.labels, self.best_class, self.per_class, self.best_class)

    def __len__(self) -> int:
        return int(self.score.numel())


class AnomalyScorer:
    """Score images with a trained GAN (see the module docstring).

    Args:
        generator: a :class:`ganaug.Generator` loaded from a model file (the discriminator, and
            the encoder when there is one, come from that file).
        method: "complexity" (the default), "izif" or "combined" (these need a fitted
            encoder), or "discriminator".
        device: where scoring runs (default: the generator's device).
        precision: "auto", "fp32" or "bf16" for the network passes, as in ``ganaug.load``.
    """

    def __init__(
        self,
        generator: Generator,
        *,
        method: str = "complexity",
        device: str | torch.device | None = None,
        precision: str = "auto",
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"expected method one of {METHODS}, got {method!r}")
        if not isinstance(generator, Generator) or generator.model_file is None:
            raise ValueError(
                f"expected a ganaug.Generator loaded from a model file (ganaug.load(path)), got "
                f"{type(generator).__name__}"
            )
        use_bf16(precision, torch.device("cpu"))  # validates
        self.generator, self.method, self.precision = generator, method, precision
        self.device = torch.device(device) if device is not None else generator.device
        mf = generator.model_file
        self.meta: EncoderMeta | None = None
        self.encoder: Encoder | None = None
        if mf.encoder_meta is not None:
            self.meta = EncoderMeta.from_dict(mf.encoder_meta)
            self.encoder = build_encoder(generator.config, self.meta)
            try:
                self.encoder.load_state_dict(mf.encoder_state, strict=True)
            except RuntimeError as e:
                raise ValueError(
                    f"{mf.path}: the encoder weights do not match its metadata ({e})"
                ) from e
            self.encoder.eval().requires_grad_(False)
        self._d: nn.Module | None = None

    @property
    def fitted(self) -> bool:
        """Whether an encoder is there (fitted now, or read from the model file)."""
        return self.encoder is not None

    @property
    def num_classes(self) -> int:
        return self.generator.num_classes

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.generator.image_shape

    def require_encoder(self, method: str | None = None) -> None:
        """Raise, saying how to fit one, when ``method`` (default: the scorer's) needs an encoder
        and there is none."""
        method = method or self.method
        if method != "discriminator" and self.encoder is None:
            path = self.generator.model_file.path
            raise ValueError(
                f"{path} has no anomaly encoder, which method {method!r} needs: fit one with "
                f"`ganaug fit-encoder DATA --model {path} --out MODEL_WITH_ENCODER.safetensors` "
                f"(DATA: the model's training data), or in Python "
                f"AnomalyScorer(gen).fit(data).save(path); or score with --method discriminator"
            )

    def discriminator(self) -> nn.Module:
        if self._d is None:
            self._d = self.generator.discriminator("cpu").eval().requires_grad_(False)
        return self._d

    def fit(self, data: Any, **options: Any) -> AnomalyScorer:
        """Train the encoder on real ``data`` (G and D stay frozen); see :func:`fit_encoder`.

        Example:
            >>> scorer = AnomalyScorer(ganaug.load(path)).fit("fashion-mnist")  # doctest: +SKIP
        """
        self.encoder, self.meta = fit_encoder(self, data, **options)
        return self

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model file again, with the encoder in it (``encoder.*`` tensors)."""
        self.require_encoder("izif")
        mf = self.generator.model_file
        return save(
            path,
            config=self.generator.config,
            generator=mf.generator_state,
            discriminator=mf.discriminator_state or None,
            provenance=mf.provenance,
            encoder=self.encoder,
            encoder_meta=self.meta.to_dict(),
        )

    def threshold(self, q: float) -> float:
        """The ``q``-quantile of real training images' scores (recorded when fitting)."""
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"expected a quantile in [0, 1], got {q}")
        recorded = self.meta.reference if self.meta else {}
        ref = recorded.get(self.method)
        if not ref:
            path = self.generator.model_file.path
            older = (
                f" (this encoder was fitted by an older ganaug: it records {sorted(recorded)})"
                if recorded
                else ""
            )
            raise ValueError(
                f"{path} has no reference scores for method {self.method!r}{older}: they are "
                f"recorded when the encoder is fitted; fit it again with `ganaug fit-encoder "
                f"DATA --model {path} --out NEW.safetensors`, or score with one of the methods "
                f"it records"
            )
        pos = q * (len(ref) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(ref) - 1)
        return float(ref[lo] + (ref[hi] - ref[lo]) * (pos - lo))

    def _check(self, images: torch.Tensor, labels: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(images, torch.Tensor) or images.dim() != 4:
            found = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images)
            raise ValueError(f"expected images (N, C, H, W) as a tensor, got {found}")
        if images.shape[0] == 0:
            raise ValueError("expected at least one image to score, got 0")
        expect_shape(images.shape[1:], self.image_shape, whose="the model makes")
        n = images.shape[0]
        if labels is None:
            return images, torch.full((n,), -1, dtype=torch.int64)
        y = torch.as_tensor(labels).to("cpu", torch.int64).reshape(-1)
        if y.numel() != n:
            raise ValueError(f"expected {n} labels (one per image), got {y.numel()}")
        check_classes(y, self.num_classes)
        return images, y

    def score(
        self,
        images: torch.Tensor,
        labels: Any = None,
        *,
        all_classes: bool = True,
        progress: bool = False,
    ) -> Scores:
        """Score ``images`` ((N, C, H, W) uint8, or float in [-1, 1]).

        Args:
            images: the images.
            labels: (N,) given classes, or None (an unconditional model only records them).
            all_classes: for a conditional model, score under every class (``per_class``,
                ``best_class``); False scores only under the given labels (K times faster).
            progress: a tqdm bar over the classes (stderr).
        """
        self.require_encoder()
        images, y = self._check(images, labels)
        x = to_float(images.cpu())  # (N, C, H, W) in [-1, 1]
        k = self.num_classes
        none = torch.full_like(y, -1)
        if k == 0:
            return Scores(self._pass(x, None), y, none, None, none)
        if not all_classes:
            if bool((y < 0).any()):
                raise ValueError("all_classes=False needs given labels for a conditional model")
            return Scores(self._pass(x, y), y, none, None, y)
        from tqdm.auto import tqdm

        bar = tqdm(range(k), desc="scoring classes", disable=not progress, leave=False)
        per = torch.stack([self._pass(x, torch.full_like(y, c)) for c in bar], dim=1)
        best = per.argmin(dim=1)
        scored = torch.where(y >= 0, y, best)  # the given label where there is one
        return Scores(per.gather(1, scored[:, None]).squeeze(1), y, best, per, scored)

    def _pass(self, x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        """(N,) float32 scores of float images ``x`` under classes ``c`` by the method."""
        return self.combine(self.terms(x, c))

    @torch.inference_mode()
    def terms(self, x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        """(N, 4) float32 raw terms of float images ``x`` under classes ``c``: the pixel
        residual, the discriminator-feature residual (both NaN without an encoder), minus D's
        logit, and the image's detail (:func:`detail`, the same under every class); computed
        in fixed-size calls."""
        dev = self.device
        bf16 = use_bf16(self.precision, dev)
        nets = self._nets(dev)

        def call(xb: torch.Tensor, cb: torch.Tensor | None) -> torch.Tensor:
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
                return _terms(nets, xb, cb)

        cd = c.to(dev) if c is not None else None
        return in_calls(call, x.to(dev), cd, rows=call_rows(dev)).cpu()

    def combine(self, terms: torch.Tensor, method: str | None = None) -> torch.Tensor:
        """(N,) scores from :meth:`terms` by ``method`` (default: the scorer's; module
        docstring)."""
        method = method or self.method
        if method == "discriminator":
            return terms[:, 2]
        meta = self.meta
        izif = terms[:, 0] / meta.pixel_var + meta.kappa * terms[:, 1] / meta.feature_var
        if method == "izif":
            return izif
        if method == "complexity":
            return (terms[:, 0] / meta.pixel_var).log() - DETAIL_POWER * terms[:, 3].log()
        (mp, sp), (ml, sl) = meta.term_stats["pixel"], meta.term_stats["logit"]
        return (terms[:, 0] / meta.pixel_var - mp) / sp + (terms[:, 2] - ml) / sl

    def _nets(self, dev: torch.device) -> tuple[nn.Module, nn.Module, nn.Module | None]:
        g = self.generator.module(dev)
        d = self.discriminator().to(dev)
        e = self.encoder.to(dev) if self.encoder is not None else None
        return g, d, e

    @torch.inference_mode()
    def reconstruct(self, images: torch.Tensor, classes: Any = None) -> torch.Tensor:
        """``G(E(x, c), c)`` as uint8 (N, C, H, W): what the model makes of each image."""
        self.require_encoder("izif")
        images, c = self._check(images, classes)
        x = to_float(images.cpu())
        g, _, e = self._nets(self.device)
        dev = self.device
        cd = c.to(dev) if self.num_classes else None

        def call(xb: torch.Tensor, cb: torch.Tensor | None) -> torch.Tensor:
            return g(e(xb, cb), cb).float()

        return to_uint8(in_calls(call, x.to(dev), cd, rows=call_rows(dev)).cpu())

    def describe(self) -> dict[str, Any]:
        """The scorer's identity (recorded by exports that filter with it)."""
        meta = self.meta.to_dict() if self.meta else {}
        return {"method": self.method, "fitted": meta.get("fitted", {})}

    def __repr__(self) -> str:
        return (
            f"AnomalyScorer(method={self.method!r}, fitted={self.fitted}, "
            f"num_classes={self.num_classes}, image_shape={self.image_shape})"
        )


DETAIL_POWER = 0.75  # the "complexity" score's weight on log(detail) (module docstring)
_DETAIL_FLOOR = 1e-6  # a flat image has no detail: that makes it odd, not infinitely so
_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16


def detail(x: torch.Tensor) -> torch.Tensor:
    """(B,) how much fine detail float images ``x`` (B, C, H, W) hold: the mean square of x
    minus its 5x5 binomial blur (edges reflected), at least 1e-6."""
    x = x.float()
    ch = x.shape[1]
    k = (_BINOMIAL[:, None] * _BINOMIAL[None]).to(x.device).expand(ch, 1, 5, 5)
    mode = "reflect" if min(x.shape[-2:]) > 2 else "replicate"
    blur = nn.functional.conv2d(nn.functional.pad(x, (2, 2, 2, 2), mode=mode), k, groups=ch)
    return (x - blur).pow(2).flatten(1).mean(1).clamp(min=_DETAIL_FLOOR)


def _terms(
    nets: tuple[nn.Module, nn.Module, nn.Module | None], x: torch.Tensor, c: torch.Tensor | None
) -> torch.Tensor:
    """(B, 4): pixel residual, D-feature residual (means of squares), -D(x, c), detail(x);
    x in [-1, 1]."""
    g, d, e = nets
    phi = d.features(x)
    neg_logit = -d.head(phi, c).float().reshape(-1)
    fine = detail(x)
    if e is None:
        nan = torch.full_like(neg_logit, float("nan"))
        return torch.stack([nan, nan, neg_logit, fine], dim=1)
    xr = g(e(x, c), c)  # (B, C, H, W) reconstruction
    pix = (x - xr.float()).pow(2).flatten(1).mean(1)
    feat = (phi.float() - d.features(xr).float()).pow(2).mean(1)
    return torch.stack([pix, feat, neg_logit, fine], dim=1)
