"""``evaluate``: how good, and how useful, is a model's synthetic data?

With a fixed sample count N and seed it reports the Frechet distance and KID in a named feature
space, precision / recall / density / coverage, the per-class report (mode collapse shows here)
and CAS (a classifier trained on synthetic data only, scored on the real test split, next to the
same classifier trained on as many real images).

Example:
    >>> report = ganaug.evaluate("m.safetensors", data="fashion-mnist")  # doctest: +SKIP
    >>> print(report.table())  # doctest: +SKIP
"""

from __future__ import annotations

import os
import weakref
from typing import Any

import torch

from ..data import NAMED, ImageData, load_dataset
from ..sources import SampleSource
from . import classifier as clf_lib
from . import distances
from .inception import FEATURE_SPACES, InceptionFeatures, inception_weights_path
from .report import EvalReport
from .samples import Samples, load_samples

__all__ = ["evaluate"]


def evaluate(
    source: SampleSource | str | os.PathLike | tuple[Any, Any] | None,
    data: Any = "fashion-mnist",
    *,
    n: int = 10_000,
    seed: int = 0,
    labels: Any = "balanced",
    test_data: Any = None,
    root: str | os.PathLike | None = None,
    feature_space: str = "auto",
    classifier: Any = None,
    cache_dir: str | os.PathLike | None = None,
    class_report: bool = True,
    memorisation: bool = True,
    cas: bool = True,
    cas_epochs: int | None = None,
    prdc_k: int = 5,
    batch_size: int = 512,
    device: str | torch.device = "cpu",
    report: str | os.PathLike | None = None,
    run_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> EvalReport:
    """Evaluate synthetic samples against real data.

    Args:
        source: a model file / bundled name, a loaded SampleSource (``Generator``,
            ``FilteredSource``, ...), an HDF5 samples file (``/images`` (N, H, W, C) uint8,
            ``/labels``), or a tuple ``(images (N, C, H, W) uint8, labels)``.
        data: the real data, any spec of :func:`ganaug.data.load_dataset`; its training split
            trains (or reads from cache) the domain classifier and is the real reference.
        n: number of synthetic samples (and of real reference images, when there are as many).
        seed: the sample stream of a model, and the seed of every random choice here.
        labels: the label spec for a conditional model ("balanced": n/K per class).
        test_data: the real test split for CAS and the classifier's accuracy (default: the
            ``:test`` split of a named dataset, else the last sixth of ``data``, held out).
        feature_space: "auto" (Inception-v3 for RGB data when its weights are cached locally,
            else the domain classifier), "domain" or "inception".
        classifier: a trained domain classifier to use instead of the cached one.
        cache_dir: the domain classifier cache (default ``~/.cache/ganaug/classifiers``).
        class_report, cas: compute the per-class report / CAS (both need labelled data).
        memorisation: measure how near the samples sit to the training images against real
            held-out images (copy rate, nearest-neighbour distance ratio; needs a test split).
        cas_epochs: epochs of the CAS classifiers (default: about 150k image passes).
        prdc_k: the k of the k-NN manifolds.
        batch_size, device: for feature extraction and classification.
        report: a folder for a self-contained HTML page (``index.html`` and PNGs) with the
            figures, per-class samples beside real images, nearest training images and charts
            (needs matplotlib: the ``report`` extra).
        run_dir: a training run folder whose ``log.csv`` curves go into the page.
        progress: tqdm bars (stderr) for the slow stages: training the domain classifier, features,
            (once per data set), and CAS's two classifiers (most of an eval's time).
    """
    report_dir = report
    if feature_space not in FEATURE_SPACES:
        raise ValueError(f"expected feature_space one of {FEATURE_SPACES}, got {feature_space!r}")
    train, test, note = _real_splits(data, test_data, root)
    samples = load_samples(source, n=n, seed=seed, labels=labels, device=device)
    _check_compatible(samples, train)
    needs_labels = class_report or cas or feature_space == "domain"
    if train.labels is None and needs_labels:
        raise ValueError(
            f"{train.source} has no labels: the domain feature space, the class report and CAS "
            f"need labelled data (turn them off, or use feature_space='inception' for FD only)"
        )
    if classifier is None and train.labels is not None:
        classifier = clf_lib.domain_classifier(
            train.images, train.labels, cache_dir=cache_dir, device=device, progress=progress
        )
    space, feature_model = _feature_model(feature_space, classifier, train)
    real = _subset(train, min(n, len(train)), seed)
    report = EvalReport(
        source=samples.description,
        data=train.source,
        n=n,
        n_real=len(real[0]),
        seed=seed,
        feature_space=space,
        conditional=samples.conditional,
        prdc_k=prdc_k,
    )
    report.notes += [note] if note else []
    if len(real[0]) < n:
        report.notes.append(f"the real reference has only {len(real[0])} images (N = {n})")
    kw = {"batch_size": batch_size, "device": device}
    bar = {"progress": "features: real images"} if progress else {}
    fr = clf_lib.extract_features(feature_model, real[0], **kw, **bar)
    bar = {"progress": "features: samples"} if progress else {}
    ff = clf_lib.extract_features(feature_model, samples.images, **kw, **bar)
    report.fd = distances.frechet_distance_features(fr, ff)
    report.kid_mean, report.kid_std = distances.kernel_distance_features(fr, ff, seed=seed)
    for key, value in distances.prdc(fr, ff, k=prdc_k).items():
        setattr(report, key, value)
    if class_report and classifier is not None:
        _class_report(report, classifier, samples, train, test, kw)
        if samples.conditional and real[1] is not None:
            _within_class(report, fr, real[1], ff, samples.labels, prdc_k)
    if memorisation:
        _memorisation(report, feature_model, train, test, samples, ff, n, kw, progress)
    if cas and samples.conditional:
        scores = distances.classification_accuracy_score(
            (samples.images, samples.labels),
            (test.images, test.labels),
            real=real,
            epochs=cas_epochs,
            seed=seed,
            device=device,
            progress=progress,
        )
        report.cas, report.cas_real_baseline = scores["cas"], scores.get("real_baseline")
        report.cas_n = int(scores["n"])
    elif cas:
        report.notes.append("CAS needs class-conditional samples; this source is unconditional")
    if report_dir is not None:
        _write_page(
            report_dir, report, samples, train, feature_model, ff, source, run_dir, seed, kw
        )
    return report


def _write_page(
    out: Any,
    report: EvalReport,
    samples: Samples,
    train: ImageData,
    feature_model: Any,
    ff: torch.Tensor,
    source: Any,
    run_dir: Any,
    seed: int,
    kw: dict[str, Any],
) -> None:
    from .html import write_report

    gen = torch.Generator().manual_seed(seed)
    rows = torch.randperm(len(samples.images), generator=gen)[:32].sort().values
    ft = _train_features(feature_model, train, kw)
    neighbours = distances.nearest(ff[rows], ft, k=3)
    provenance = getattr(source, "provenance", None)
    if provenance is None and isinstance(source, str | os.PathLike) and run_dir is not None:
        from ..sources.modelfile import read_model_file

        try:  # a model file named by path: its selected step marks the curves
            provenance = read_model_file(source).provenance
        except (OSError, ValueError):  # an HDF5 samples file
            provenance = None
    write_report(
        out,
        report,
        samples=samples,
        train=train,
        neighbours=neighbours,
        neighbour_rows=rows,
        run_dir=run_dir,
        selected_step=(provenance or {}).get("selected_step"),
    )


def _real_splits(
    data: Any, test_data: Any, root: str | os.PathLike | None
) -> tuple[ImageData, ImageData, str]:
    """(train, test, note): a named dataset's two splits, or a held-out sixth of ``data``."""
    train = load_dataset(data, root=root)
    if test_data is not None:
        return train, load_dataset(test_data, root=root), ""
    name = data.partition(":")[0] if isinstance(data, str) else None
    if name in NAMED:
        return train, load_dataset(f"{name}:test", root=root), ""
    n_test = len(train) // 6
    if n_test < 1:
        raise ValueError(f"{train.source}: too few images ({len(train)}) to hold out a test split")
    cut, y = len(train) - n_test, train.labels
    head = ImageData(
        train.images[:cut], None if y is None else y[:cut], train.class_names, train.source
    )
    tail = ImageData(
        train.images[cut:],
        None if y is None else y[cut:],
        train.class_names,
        f"{train.source} (last {n_test} rows)",
    )
    return head, tail, f"test split: the last {n_test} rows of {train.source}, held out"


def _check_compatible(samples: Samples, train: ImageData) -> None:
    if tuple(samples.images.shape[1:]) != train.image_shape:
        raise ValueError(
            f"the samples are images of shape {tuple(samples.images.shape[1:])} but "
            f"{train.source} has {train.image_shape}; evaluate against data of the same shape"
        )
    k = len(train.class_names)
    if samples.conditional and train.labels is not None:
        declared = samples.num_classes if samples.declared else None
        if (declared is not None and declared != k) or int(samples.labels.max()) >= k:
            found = f"{declared} classes" if declared is not None else "labels up to "
            found += "" if declared is not None else str(int(samples.labels.max()))
            raise ValueError(
                f"the samples have {found} but {train.source} has {k} classes; evaluate "
                f"against the data the model was trained on"
            )


def _feature_model(space: str, classifier: Any, train: ImageData) -> tuple[str, Any]:
    if space == "auto":
        rgb = train.image_shape[0] == 3
        space = "inception" if rgb and inception_weights_path().is_file() else "domain"
    if space == "inception":
        model = InceptionFeatures(weights=inception_weights_path())
        return f"inception-v3 pool3 (2048-d, torchvision ImageNet weights {model.source})", model
    if classifier is None:
        raise ValueError("the domain feature space needs a classifier (labelled data)")
    return (
        f"domain classifier ({classifier.num_features}-d penultimate layer of ganaug's CNN "
        f"trained on {train.source}, {len(train)} images)",
        classifier,
    )


def _subset(data: ImageData, m: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """m rows of ``data`` picked with ``seed`` (the real reference and the CAS baseline)."""
    pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:m]
    return data.images[pick], None if data.labels is None else data.labels[pick]


def _class_report(
    report: EvalReport,
    classifier: Any,
    samples: Samples,
    train: ImageData,
    test: ImageData,
    kw: dict[str, Any],
) -> None:
    """Fill the per-class rows: the predicted-class histogram, and for conditional samples the
    fraction of each requested class the classifier assigns to it."""
    if test.labels is not None:
        report.classifier_test_accuracy = distances.class_accuracy(
            classifier, test.images, test.labels, **kw
        )
    pred = clf_lib.predict_proba(classifier, samples.images, **kw).argmax(1)
    k = classifier.num_classes
    hist = torch.bincount(pred, minlength=k)
    names = train.class_names or [str(i) for i in range(k)]
    rows = []
    for c in range(k):
        row: dict[str, Any] = {"class": c, "name": names[c], "predicted": int(hist[c])}
        if samples.conditional:
            asked = samples.labels == c
            row["requested"] = int(asked.sum())
            row["assigned"] = float((pred[asked] == c).float().mean()) if asked.any() else None
        rows.append(row)
    report.classes = rows
    if samples.conditional:
        report.class_accuracy = float((pred == samples.labels).float().mean())


def _within_class(
    report: EvalReport,
    fr: torch.Tensor,
    real_labels: torch.Tensor,
    ff: torch.Tensor,
    labels: torch.Tensor,
    k: int,
) -> None:
    """Recall and coverage inside each class: class c's samples against class c's real images.

    The spread the overall figures can hide: a generator that draws one prototype per class
    has a fair overall coverage of the class centres but a within-class recall near 0.
    """
    for row in report.classes:
        c = row["class"]
        real_c, fake_c = fr[real_labels == c], ff[labels == c]
        if min(len(real_c), len(fake_c)) <= k:
            row["recall"] = row["coverage"] = None  # too few images for k-NN manifolds
            continue
        pr = distances.prdc(real_c, fake_c, k=k)
        row["recall"], row["coverage"] = pr["recall"], pr["coverage"]
    for key in ("recall", "coverage"):
        values = [row[key] for row in report.classes if row.get(key) is not None]
        setattr(report, f"class_{key}", sum(values) / len(values) if values else None)


def _memorisation(
    report: EvalReport,
    feature_model: Any,
    train: ImageData,
    test: ImageData,
    samples: Samples,
    ff: torch.Tensor,
    n: int,
    kw: dict[str, Any],
    progress: bool = False,
) -> None:
    """Copy rate and nearest-neighbour ratio against all training images (per class too)."""
    ft = _train_features(feature_model, train, kw, progress)
    m = min(n, len(test))
    bar = {"progress": "features: held-out images"} if progress else {}
    fh = clf_lib.extract_features(feature_model, test.images[:m], **kw, **bar)
    mem = distances.memorisation(ft, fh, ff)
    report.copy_rate, report.copy_threshold = mem["copy_rate"], mem["copy_threshold"]
    report.nn_ratio, report.n_held_out = mem["nn_ratio"], m
    if samples.conditional and test.labels is not None:
        d_fake, d_real, y_real = mem["fake_distance"], mem["held_out_distance"], test.labels[:m]
        rows = {row["class"]: row for row in report.classes}
        for c in range(max(len(report.classes), 1)):
            fake_c, real_c = d_fake[samples.labels == c], d_real[y_real == c]
            if c not in rows or not len(fake_c) or not len(real_c):
                continue
            rows[c]["copy_rate"] = float((fake_c < mem["copy_threshold"]).double().mean())
            rows[c]["nn_ratio"] = float(fake_c.median() / real_c.median())


_TRAIN_FEATURES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _train_features(
    feature_model: Any, train: ImageData, kw: dict[str, Any], progress: bool = False
) -> torch.Tensor:
    """Features of every training image, kept per feature model and data fingerprint: the
    memorisation measure needs all of them, and one session often evaluates many models."""
    known = _TRAIN_FEATURES.setdefault(feature_model, {})
    key = train.fingerprint()
    if key not in known:
        known.clear()  # one data set per feature model at a time
        bar = {"progress": "features: all training images"} if progress else {}
        known[key] = clf_lib.extract_features(feature_model, train.images, **kw, **bar)
    return known[key]
