"""Quality filtering as a SampleSource wrapper: export, the mixer and GANAugmented take it as is.

Three filters, all deterministic by index and batched:

- ``"drs"``: discriminator rejection sampling (Azadi et al. 2019) with the discriminator stored
  in the model file. A candidate x is kept with probability ``sigmoid(F(x) - gamma)``, where
  ``F(x) = D(x) - D_max - log(1 - exp(D(x) - D_max - eps))``, ``D_max`` is D's largest logit
  on a burn-in set and ``gamma`` the ``threshold`` quantile of F on that set (the paper's
  "percentile" rule: 0.95 keeps few, 0.5 about half).
- ``"confidence"``: keep a candidate the domain classifier assigns to its conditioning class with
  probability >= ``threshold`` (the most probable class, for an unconditional model).
- ``"anomaly"``: keep a candidate whose anomaly score under its class (``scorer``, a
  ``ganaug.AnomalyScorer``) is at most the ``threshold``-quantile of real training images'
  scores: drop synthetic rows that look unlike any real image.

Filtered sample i with class y tries candidates k = 0, 1, ... (absolute index
``i * max_tries + k`` of the wrapped generator, same seed and class) and keeps the first one
accepted; when all ``max_tries`` are rejected it keeps the best-scoring one. Every accept/reject
draw is a pure function of (seed, candidate index), so sample i is the same image whatever the
batch size or ``start``.

Example:
    >>> src = FilteredSource(ganaug.load(path), method="drs")  # doctest: +SKIP
    >>> images, labels = src.sample(1000, labels="balanced", seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import torch

from .. import _rng
from .._images import expect_shape, to_float, to_uint8
from .base import GeneratedSource, LiveSource, call_rows, in_calls

__all__ = ["FilteredSource", "parse_filter_spec", "FILTER_METHODS"]

FILTER_METHODS = ("drs", "confidence", "anomaly")
DEFAULT_THRESHOLD = {"drs": 0.8, "confidence": 0.9, "anomaly": 0.95}
_BURN_IN_SEED = 0x5EED


class FilteredSource(GeneratedSource):
    """A SampleSource that keeps only candidates accepted by a quality filter.

    Args:
        source: a live generator (``ganaug.Generator``, anything with ``generate``).
        method: "drs", "confidence" or "anomaly".
        threshold: DRS: the quantile of F on the burn-in set used as gamma (0..1, default 0.8);
            confidence: the least class probability kept (0..1, default 0.9); anomaly: the
            quantile of real training scores above which a row is dropped (default 0.95).
        classifier: the domain classifier (required for "confidence"), e.g.
            ``ganaug.metrics.domain_classifier(train_images, train_labels)``.
        scorer: the anomaly scorer (required for "anomaly"), ``ganaug.AnomalyScorer(gen)`` of
            a model file with a fitted encoder.
        max_tries: candidates per sample before the best one is taken.
        burn_in: DRS burn-in samples for D_max and gamma.
    """

    def __init__(
        self,
        source: LiveSource,
        *,
        method: Literal["drs", "confidence"] = "drs",
        threshold: float | None = None,
        classifier: Any = None,
        scorer: Any = None,
        max_tries: int = 16,
        burn_in: int = 2048,
    ) -> None:
        if method not in FILTER_METHODS:
            raise ValueError(f"expected method one of {FILTER_METHODS}, got {method!r}")
        if not isinstance(source, LiveSource):
            raise ValueError(
                f"filtering needs a live generator with .generate(indices, labels, seed), got "
                f"{type(source).__name__} (filter when exporting, not a stored export)"
            )
        t = DEFAULT_THRESHOLD[method] if threshold is None else float(threshold)
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"expected a {method} threshold in [0, 1], got {threshold}")
        if method == "confidence" and classifier is None:
            raise ValueError("the confidence filter needs classifier= (a domain classifier)")
        if method == "anomaly" and scorer is None:
            raise ValueError(
                "the anomaly filter needs scorer= (ganaug.AnomalyScorer(gen), whose model file "
                "holds a fitted encoder: ganaug fit-encoder)"
            )
        if classifier is not None:
            expect_shape(source.image_shape, classifier.image_shape, whose="the classifier reads")
        if scorer is not None:
            expect_shape(source.image_shape, scorer.image_shape, whose="the scorer reads")
        if max_tries < 1 or burn_in < 2:
            raise ValueError(
                f"expected max_tries >= 1 and burn_in >= 2, got {max_tries}, {burn_in}"
            )
        self.source, self.method, self.threshold = source, method, t
        self.classifier, self.max_tries, self.burn_in = classifier, int(max_tries), int(burn_in)
        self.scorer = scorer
        self._max_score = scorer.threshold(t) if scorer is not None else None
        self._drs: tuple[float, float] | None = None  # (D_max, gamma), from the burn-in set
        self._disc: dict[torch.device, torch.nn.Module] = {}

    # SampleSource attributes
    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.source.image_shape)  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return int(self.source.num_classes)

    @property
    def class_names(self) -> list[str]:
        return list(self.source.class_names)

    @property
    def sha256(self) -> str | None:
        return getattr(self.source, "sha256", None)

    def resolved_precision(self, device: str | torch.device | None = None) -> str | None:
        """What the wrapped generator samples in on ``device`` (the filter scores in fp32)."""
        fn = getattr(self.source, "resolved_precision", None)
        return fn(device) if fn is not None else None

    @property
    def config(self) -> Any:
        return getattr(self.source, "config", None)

    def describe(self) -> dict[str, Any]:
        """The filter's settings and the classifier's identity (recorded by exports)."""
        spec = {
            "method": self.method,
            "threshold": self.threshold,
            "max_tries": self.max_tries,
            "burn_in": self.burn_in,
        }
        if self.classifier is not None:
            h = hashlib.sha256()
            for key, value in self.classifier.state_dict().items():
                h.update(key.encode())
                h.update(value.detach().cpu().contiguous().numpy().tobytes())
            spec["classifier_sha256"] = h.hexdigest()[:16]
        if self.scorer is not None:
            spec["scorer"] = self.scorer.describe()
            spec["max_score"] = self._max_score
        return {"filter": spec}

    def __repr__(self) -> str:
        return (
            f"FilteredSource({self.source!r}, method={self.method!r}, "
            f"threshold={self.threshold}, max_tries={self.max_tries})"
        )

    @torch.inference_mode()
    def generate(
        self,
        indices: torch.Tensor,
        labels: torch.Tensor,
        seed: int,
        *,
        batch_size: int | None = None,
        device: str | torch.device | None = None,
    ) -> torch.Tensor:
        """Filtered float images (N, C, H, W) in [-1, 1] for absolute sample ``indices``."""
        dev = torch.device(device) if device is not None else _device_of(self.source)
        idx = indices.to("cpu", torch.int64)
        y = labels.to("cpu", torch.int64)
        out = torch.empty((idx.numel(), *self.image_shape), device=dev)
        best = torch.full((idx.numel(),), -float("inf"))
        pending = torch.arange(idx.numel())
        for k in range(self.max_tries):  # one round: every still-rejected sample together
            cand = idx[pending] * self.max_tries + k
            x = self.source.generate(cand, y[pending], seed, batch_size=batch_size, device=dev)
            score, accept = self._judge(x, y[pending], cand, seed, dev)
            better = score > best[pending]  # keep the best candidate in case all are rejected
            out[pending[better | accept]] = x[better | accept]
            best[pending[better]] = score[better]
            pending = pending[~accept]
            if pending.numel() == 0:
                break
        return out

    def _judge(
        self, x: torch.Tensor, y: torch.Tensor, cand: torch.Tensor, seed: int, dev: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(score, accepted) per candidate row, both (B,) on the CPU."""
        if self.method == "confidence":
            prob = self._class_prob(x, y, dev)
            return prob, prob >= self.threshold
        if self.method == "anomaly":
            labels = y if self.num_classes else None
            s = self.scorer.score(to_uint8(x).cpu(), labels, all_classes=False).score
            return -s, s <= self._max_score  # judge what the user gets (uint8)
        d_max, gamma = self._drs_params(dev)
        f = _drs_f(self._logits(x, y, dev), d_max)
        p_accept = torch.sigmoid(f - gamma)
        return f.float(), _rng.rand(cand, seed, _rng.STREAM_ACCEPT) < p_accept

    def _class_prob(self, x: torch.Tensor, y: torch.Tensor, dev: torch.device) -> torch.Tensor:
        clf = self.classifier.eval().to(dev)
        xq = to_float(to_uint8(x))  # judge what the user gets
        p = in_calls(lambda b: clf(b).float().softmax(1), xq, rows=call_rows(dev)).cpu()
        if self.num_classes == 0:
            return p.max(1).values
        return p.gather(1, y[:, None]).squeeze(1)

    def _discriminator(self, dev: torch.device) -> torch.nn.Module:
        if dev not in self._disc:
            self._disc[dev] = self.source.discriminator(dev).eval()
        return self._disc[dev]

    def _logits(self, x: torch.Tensor, y: torch.Tensor, dev: torch.device) -> torch.Tensor:
        d = self._discriminator(dev)
        xq = to_float(to_uint8(x))
        yd = y.to(dev) if self.num_classes else None
        logits = in_calls(lambda b, yb: d(b, yb).float().reshape(-1), xq, yd, rows=call_rows(dev))
        return logits.cpu().double()

    def _drs_params(self, dev: torch.device) -> tuple[float, float]:
        """D_max and gamma from a fixed burn-in set (balanced classes, its own seed)."""
        if self._drs is None:
            idx = torch.arange(self.burn_in, dtype=torch.int64)
            y = idx % self.num_classes if self.num_classes else torch.full_like(idx, -1)
            x = self.source.generate(idx, y, _BURN_IN_SEED, device=dev)
            logits = self._logits(x, y, dev)
            d_max = float(logits.max())
            gamma = float(torch.quantile(_drs_f(logits, d_max), self.threshold))
            self._drs = (d_max, gamma)
        return self._drs


def _drs_f(logits: torch.Tensor, d_max: float, eps: float = 1e-6) -> torch.Tensor:
    """Azadi et al.'s F(x) = D(x) - D_max - log(1 - exp(D(x) - D_max - eps)), D(x) <= D_max."""
    d = (logits - d_max).clamp(max=0.0)
    return d - torch.log1p(-torch.exp(d - eps))


def _device_of(source: Any) -> torch.device:
    return torch.device(getattr(source, "device", "cpu"))


def parse_filter_spec(text: str) -> dict[str, Any]:
    """``"drs"``, ``"drs:0.9"``, ``"confidence"``, ``"confidence:0.95"``, ``"anomaly"`` or
    ``"anomaly:0.99"`` -> FilteredSource kwargs.

    Example:
        >>> parse_filter_spec("confidence:0.9")
        {'method': 'confidence', 'threshold': 0.9}
    """
    method, _, value = str(text).strip().partition(":")
    if method not in FILTER_METHODS:
        raise ValueError(
            f"expected a filter 'drs', 'drs:Q', 'confidence', 'confidence:T', 'anomaly' or "
            f"'anomaly:Q' (Q, T in [0, 1]), got {text!r}"
        )
    out: dict[str, Any] = {"method": method}
    if value:
        try:
            out["threshold"] = float(value)
        except ValueError:
            raise ValueError(f"expected a number after '{method}:', got {value!r}") from None
        if not 0.0 <= out["threshold"] <= 1.0:
            raise ValueError(f"expected a {method} threshold in [0, 1], got {value}")
    return out
