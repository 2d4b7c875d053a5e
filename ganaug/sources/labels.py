"""Label specs as people write them (CLI ``--labels``, ``export(labels=...)``): parsed once, and
resolved to the class of every row, a pure function of (spec, n, seed)."""

from __future__ import annotations

import hashlib
from typing import Any

import torch

from .. import _rng
from .base import resolve_labels

__all__ = ["parse_label_spec", "resolve_label_spec"]


def parse_label_spec(text: str | None) -> Any:
    """CLI ``--labels``: 'balanced', 'uniform', 'auto', a class ('3' or a name), a list of
    classes '0,1,1,2' (one per sample) or counts '0:500,3:1000'."""
    if text is None or text in ("balanced", "uniform", "auto"):
        return text
    if ":" not in text and "," in text:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not all(p.lstrip("-").isdigit() for p in parts):
            raise ValueError(
                f"expected --labels as a comma list of class indices like '0,1,1,2', got {text!r}"
            )
        return [int(p) for p in parts]
    if ":" in text:
        counts: dict[Any, int] = {}
        for part in (p.strip() for p in text.split(",") if p.strip()):
            key, _, value = part.rpartition(":")
            try:
                counts[_key(key.strip())] = int(value)
            except ValueError:
                raise ValueError(
                    f"expected --labels counts like '0:500,3:1000', got {text!r} "
                    f"(bad part {part!r})"
                ) from None
        return counts
    return _key(text.strip())


def _key(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text


def _class_index(key: Any, num_classes: int, class_names: list[str]) -> int:
    if isinstance(key, str) and key in class_names:
        return class_names.index(key)
    if isinstance(key, int) and not isinstance(key, bool) and 0 <= key < num_classes:
        return key
    known = f"0..{num_classes - 1} ({', '.join(class_names)})"
    if isinstance(key, int) and not isinstance(key, bool):
        raise ValueError(
            f"labels must be in [0, {num_classes - 1}] for this model's {num_classes} classes; "
            f"the label spec names class {key!r} (classes: {known})"
        )
    raise ValueError(
        f"expected --labels (labels=) to give classes by index or name; the label spec names "
        f"class {key!r}, but the model has {num_classes} classes: {known}"
    )


def resolve_label_spec(
    spec: Any, n: int | None, *, num_classes: int, class_names: list[str], seed: int
) -> tuple[torch.Tensor, str, int]:
    """Labels for every row of an export (or any other request for n samples).

    Args:
        spec: "auto" ("balanced" if conditional, else none), None, "balanced", "uniform", a class
            index or name, ``{class: count}`` (rows in a seeded shuffle), or n class indices.
        n: number of rows (None: the sum of a counts spec).
        num_classes, class_names: the source's classes.
        seed: the export seed.

    Returns:
        ``(labels (n,) int64, canonical spec text for provenance, n)``.
    """
    if isinstance(spec, str):
        spec = parse_label_spec(spec)
    if spec == "auto":
        spec = "balanced" if num_classes else None
    if isinstance(spec, dict):
        return _from_counts(spec, n, num_classes=num_classes, class_names=class_names, seed=seed)
    if n is None and isinstance(spec, (list, tuple, torch.Tensor)):
        n = len(spec)
    if n is None:
        raise ValueError("expected n (the number of samples) unless labels are given as counts")
    if num_classes and isinstance(spec, str) and spec not in ("balanced", "uniform"):
        spec = _class_index(_key(spec), num_classes, class_names)
    if num_classes and isinstance(spec, int) and not isinstance(spec, bool):
        _class_index(spec, num_classes, class_names)
    labels = resolve_labels(spec, n, num_classes=num_classes, seed=seed, start=0)
    if spec is None or isinstance(spec, (str, int)):
        text = "none" if spec is None else str(spec)
    else:
        digest = hashlib.sha256(labels.numpy().tobytes()).hexdigest()[:16]
        text = f"list:{digest}"
    return labels, text, n


def _from_counts(
    counts: dict[Any, Any], n: int | None, *, num_classes: int, class_names: list[str], seed: int
) -> tuple[torch.Tensor, str, int]:
    if not num_classes:
        raise ValueError(
            f"labels were given as counts ({counts}) but the model is unconditional (num_classes=0)"
        )
    resolved: dict[int, int] = {}
    for key, count in counts.items():
        c = _class_index(key, num_classes, class_names)
        if int(count) < 0:
            raise ValueError(f"expected a count >= 0 for class {key!r}, got {count}")
        resolved[c] = resolved.get(c, 0) + int(count)
    total = sum(resolved.values())
    if total <= 0:
        raise ValueError(f"expected label counts that sum to > 0, got {counts}")
    if n is not None and n != total:
        raise ValueError(
            f"the label counts sum to {total} but n is {n}; give matching numbers (or leave n out)"
        )
    classes = sorted(resolved)
    ordered = torch.repeat_interleave(
        torch.tensor(classes, dtype=torch.int64), torch.tensor([resolved[c] for c in classes])
    )
    keys = _rng.index_keys(torch.arange(total, dtype=torch.int64), seed, _rng.STREAM_ORDER)
    labels = ordered[torch.argsort(keys, stable=True)]  # a seeded shuffle
    text = "counts:" + ",".join(f"{c}:{resolved[c]}" for c in classes)
    return labels, text, total
