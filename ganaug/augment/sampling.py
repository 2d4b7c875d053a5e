"""How many synthetic samples of each class: imbalanced-learn's ``sampling_strategy`` meanings.

Over-sampling semantics (as imblearn's ``RandomOverSampler``): the counts say how many samples
to *add* per class so that, after adding them, classes reach the wanted sizes.

- ``"auto"`` / ``"not majority"``: every class but the majority reaches the majority's size;
- ``"minority"``: only the minority class does;
- ``"not minority"``: every class but the minority;
- ``"all"``: every class (the majority gets 0 more);
- ``{class: count}``: the wanted number of samples *after* resampling (must be >= the real
  count; a class absent from the real data may be asked for if the source can make it);
- a callable ``f(labels) -> {class: count}`` with the same meaning as the dict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from .. import _rng

__all__ = ["resolve_sampling_strategy", "layout_labels", "proportional_counts"]

_NAMED = ("auto", "not majority", "minority", "not minority", "all")


def resolve_sampling_strategy(
    strategy: str | Mapping[int, int] | Callable[[Any], Mapping[int, int]],
    real_labels: torch.Tensor,
    *,
    num_classes: int,
) -> dict[int, int]:
    """Synthetic samples to add per class, ``{class: n}`` (classes with n > 0 only).

    Args:
        strategy: an imbalanced-learn sampling strategy (see the module docstring).
        real_labels: (N,) int64 labels of the real data.
        num_classes: how many classes the source can make.
    """
    counts = torch.bincount(real_labels.to(torch.int64), minlength=num_classes)
    if isinstance(strategy, str):
        wanted = _named_targets(strategy, counts)
    else:
        wanted = strategy(real_labels.numpy()) if callable(strategy) else strategy
        if not isinstance(wanted, Mapping):
            raise ValueError(
                f"expected sampling_strategy to give a dict {{class: count}}, "
                f"got {type(wanted).__name__}"
            )
    out = {}
    for c, n in sorted((int(k), int(v)) for k, v in wanted.items()):
        if not 0 <= c < num_classes:
            raise ValueError(
                f"sampling_strategy asks for class {c}, but the source makes "
                f"classes 0..{num_classes - 1} ({num_classes} classes)"
            )
        have = int(counts[c]) if c < counts.numel() else 0
        if n < have:
            raise ValueError(
                f"sampling_strategy asks for {n} samples of class {c} in total, but "
                f"the real data already has {have}; over-sampling only adds samples"
            )
        if n > have:
            out[c] = n - have
    return out


def _named_targets(strategy: str, counts: torch.Tensor) -> dict[int, int]:
    """Wanted class sizes for a named strategy: the chosen classes reach the majority's size."""
    if strategy not in _NAMED:
        raise ValueError(
            f"expected sampling_strategy one of {_NAMED}, a dict or a callable; got {strategy!r}"
        )
    present = [c for c in range(counts.numel()) if counts[c] > 0]
    n_max = int(counts.max())
    lo_cls = min(present, key=lambda c: (int(counts[c]), c))
    hi_cls = max(present, key=lambda c: (int(counts[c]), -c))
    chosen = {
        "auto": [c for c in present if c != hi_cls],
        "not majority": [c for c in present if c != hi_cls],
        "minority": [lo_cls],
        "not minority": [c for c in present if c != lo_cls],
        "all": present,
    }[strategy]
    return {c: n_max for c in chosen}


def proportional_counts(total: int, weights: torch.Tensor) -> dict[int, int]:
    """Split ``total`` over classes proportionally to ``weights`` (largest remainder)."""
    w = weights.to(torch.float64)
    exact = w / w.sum() * total
    base = exact.floor().to(torch.int64)
    rest = total - int(base.sum())
    order = sorted(range(w.numel()), key=lambda c: (-(exact[c] - base[c]).item(), c))
    for c in order[:rest]:
        base[c] += 1
    return {c: int(base[c]) for c in range(w.numel()) if base[c] > 0}


def layout_labels(per_class: Mapping[int, int], seed: int) -> torch.Tensor:
    """(N,) int64 labels with exactly ``per_class[c]`` of class c, shuffled as a pure function of
    ``seed`` (a hash-keyed sort), so synthetic item j's label depends only on (seed, j)."""
    parts = [torch.full((n,), c, dtype=torch.int64) for c, n in sorted(per_class.items())]
    labels = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.int64)
    if labels.numel() == 0:
        return labels
    keys = _rng.uniform_bits(torch.arange(labels.numel()), seed, _rng.STREAM_SHUFFLE, 1)[:, 0]
    return labels[torch.argsort(keys, stable=True)]
