"""Sampling-side levers on CAS (GaFi's expansion trick and sample filtering), no retraining.

For each setting ``SCALE:FILTER`` (latent z times SCALE; FILTER ``none`` or a domain-classifier
confidence threshold, ``ganaug.FilteredSource(method="confidence")``), draws 10,000 balanced
samples of the model (seed 0) and prints one JSON row: the issue-12 measures of ``ganaug eval``
(FD, precision/recall, density/coverage, within-class, class accuracy) and CAS (a classifier
trained on the samples, scored on the real test split; the real baseline is in ``ganaug eval``).
Note that a confidence filter uses the eval's own domain classifier, so its class accuracy is 1.

    OMP_NUM_THREADS=1 python benchmarks/cas_levers.py 1.0:none 1.2:none 1.0:0.7 [--model M]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import ganaug
from ganaug.data import load_dataset
from ganaug.metrics import classifier as clf_lib
from ganaug.metrics import distances
from ganaug.metrics.evaluation import evaluate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("settings", nargs="+", help="SCALE:FILTER, e.g. 1.0:none 1.0:0.7")
    ap.add_argument("--model", default="fashion-mnist")
    ap.add_argument("--n", type=int, default=10_000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    train, test = load_dataset("fashion-mnist"), load_dataset("fashion-mnist:test")
    clf = clf_lib.domain_classifier(train.images, train.labels)
    for setting in args.settings:
        scale, filt = setting.split(":")
        t0 = time.time()
        gen = ganaug.load(args.model)
        unscaled, s = gen.latents, float(scale)
        gen.latents = lambda idx, seed, f=unscaled, s=s: f(idx, seed) * s  # the expansion trick
        src = gen
        if filt != "none":
            src = ganaug.FilteredSource(
                gen, method="confidence", threshold=float(filt), classifier=clf
            )
        x, y = src.sample(args.n, labels="balanced", seed=0)
        rep = evaluate(
            (x, y), "fashion-mnist", n=args.n, classifier=clf, cas=False, memorisation=False
        )
        cas = distances.classification_accuracy_score((x, y), (test.images, test.labels), seed=0)
        keys = ("fd", "precision", "recall", "density", "coverage", "class_accuracy")
        row = {"scale": s, "filter": filt, **{k: round(getattr(rep, k), 4) for k in keys}}
        row |= {"class_recall": round(rep.class_recall, 4)}
        row |= {"class_coverage": round(rep.class_coverage, 4)}
        row |= {"cas": round(cas["cas"], 4), "seconds": round(time.time() - t0)}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
