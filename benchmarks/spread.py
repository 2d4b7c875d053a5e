"""Within-class spread of short default runs: the protocol behind the test's floor.

Trains the default recipe for STEPS steps on the first 5,000 Fashion-MNIST training images and
prints FD, recall, coverage, class accuracy and the within-class recall/coverage of 1,000 samples
against the last 1,000 training images, in a 1-epoch domain classifier's features (the protocol
of the short real run in ``tests/test_train.py``, which keeps ``WITHIN_CLASS_RECALL_FLOOR``).
Reference rows: ``bundled`` (the shipped model) and ``real`` (the held-out images themselves).

    OMP_NUM_THREADS=1 python benchmarks/spread.py --steps 300 --precision bf16 default bundled real
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ganaug.data import ImageData, fashion_mnist
from ganaug.metrics import evaluate, train_domain_classifier
from ganaug.training import train

KEYS = ("fd", "recall", "coverage", "class_accuracy", "class_recall", "class_coverage")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rows", nargs="+", help="default | bundled | real")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--arch-args", default="{}", help="JSON, for the 'default' row")
    args = ap.parse_args()
    torch.set_num_threads(1)
    tr = fashion_mnist(train=True)
    x = torch.as_tensor(np.asarray(tr.data))[:, None]
    data = ImageData(x[:5000], tr.targets[:5000].clone(), list(tr.classes), "fm5k")
    held = ImageData(x[-1000:], tr.targets[-1000:].clone(), data.class_names, "fm1k")
    clf = train_domain_classifier(data.images, data.labels, epochs=1, seed=0)
    kw = {"n": 1000, "test_data": held, "classifier": clf, "cas": False}
    with tempfile.TemporaryDirectory() as tmp:
        for row in args.rows:
            t = time.monotonic()
            if row == "real":
                source = (held.images, held.labels)
            elif row == "bundled":
                source = "fashion-mnist"
            else:
                source = str(
                    train(
                        data,
                        out=Path(tmp) / f"{row}.safetensors",
                        steps=args.steps,
                        precision=args.precision,
                        arch_args=json.loads(args.arch_args),
                        log_every=50,
                        sample_every=0,
                        checkpoint_every=0,
                        progress=False,
                    )
                )
            r = evaluate(source, data, **kw)
            figures = ", ".join(f"{k} {getattr(r, k):.4f}" for k in KEYS)
            took = time.monotonic() - t
            print(f"{row} ({args.steps} steps, {args.precision}): {figures}; {took:.0f} s")


if __name__ == "__main__":
    main()
