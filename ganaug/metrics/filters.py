"""``quality_filter``: a :class:`~ganaug.sources.FilteredSource` from a spec such as
``"confidence:0.9"``, with the domain classifier it needs trained (or read from the cache) on
the real data, as ``evaluate`` does, or the anomaly scorer of the model file's encoder. The
``--filter`` of ``ganaug export`` and ``ganaug eval``."""

from __future__ import annotations

import os
from typing import Any

import torch

from ..anomaly import AnomalyScorer
from ..data import load_dataset
from ..sources import FilteredSource, LiveSource, parse_filter_spec
from .classifier import DomainClassifier, domain_classifier, load_classifier

__all__ = ["quality_filter"]


def quality_filter(
    source: LiveSource,
    spec: str,
    *,
    data: Any = None,
    classifier: DomainClassifier | str | os.PathLike | None = None,
    root: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
) -> FilteredSource:
    """Wrap ``source`` in the filter ``spec`` (``drs[:Q]``, ``confidence[:T]``, ``anomaly[:Q]``).

    Args:
        source: a live generator.
        spec: the filter, as :func:`ganaug.sources.parse_filter_spec` reads it.
        data: the real training data (any :func:`ganaug.data.load_dataset` spec); the confidence
            filter's domain classifier is trained on it once and cached by its fingerprint.
        classifier: a domain classifier (or its file) to use instead.
        root, cache_dir: where named data sets and cached classifiers live.
        device: where a classifier is trained when it is not cached.

    Example:
        >>> gen = ganaug.load()  # doctest: +SKIP
        >>> src = quality_filter(gen, "confidence:0.9", data="fashion-mnist")  # doctest: +SKIP
    """
    kwargs = parse_filter_spec(spec)
    if isinstance(classifier, (str, os.PathLike)):
        classifier = load_classifier(classifier)
    if kwargs["method"] == "confidence" and classifier is None:
        if data is None:
            raise ValueError(
                "the confidence filter needs the real training data (--data) to train or read "
                "its domain classifier, or a classifier file (--classifier)"
            )
        real = load_dataset(data, root=root)
        if real.labels is None:
            raise ValueError(f"{real.source} has no labels: the confidence filter needs them")
        classifier = domain_classifier(real.images, real.labels, cache_dir=cache_dir, device=device)
    scorer = None
    if kwargs["method"] == "anomaly":
        scorer = AnomalyScorer(source, device=device)
        scorer.require_encoder()
    return FilteredSource(source, classifier=classifier, scorer=scorer, **kwargs)
