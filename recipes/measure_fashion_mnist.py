"""Quality of Fashion-MNIST models as README and benchmarks/RESULTS.md report it.

The feature model is ``ganaug.metrics.domain_classifier`` trained on the 60,000 real training
images (cached by their fingerprint); its accuracy on the real test set is printed first. For
each model: ``n`` class-conditional samples (labels balanced, seed 0); FD against the 10,000 real
test images, and the share the classifier assigns to the class they were generated for. The floor
is a real 10,000-image subset of the training set (fixed seed) against the same test set.

    python recipes/measure_fashion_mnist.py fashion-mnist runs/mlp.safetensors --n 10000
"""

from __future__ import annotations

import argparse
import time

import torch

import ganaug
from ganaug.data import load_dataset
from ganaug.metrics import class_accuracy, domain_classifier, frechet_distance


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", help="model files or bundled names")
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--root", default=None)
    args = p.parse_args()
    train = load_dataset("fashion-mnist", root=args.root)
    test = load_dataset("fashion-mnist:test", root=args.root)
    clf = domain_classifier(train.images, train.labels)
    print(f"domain classifier: test accuracy {class_accuracy(clf, test.images, test.labels):.4f}")
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[: args.n]
    fd = frechet_distance(train.images[pick], test.images, feature_model=clf)
    print(f"floor: real {args.n}-image training subset vs test set: FD {fd:.2f}")
    for model in args.models:
        t0 = time.perf_counter()
        gen = ganaug.load(model)
        images, labels = gen.sample(args.n, labels="balanced", seed=0)
        fd = frechet_distance(images, test.images, feature_model=clf)
        acc = class_accuracy(clf, images, labels) if gen.num_classes else float("nan")
        prov = gen.provenance
        print(
            f"{model}: arch {gen.config.arch} loss {prov.get('loss')} steps {prov.get('steps')} "
            f"(selected step {prov.get('selected_step')}): FD {fd:.2f}, class accuracy "
            f"{acc:.4f} ({time.perf_counter() - t0:.0f} s)"
        )


if __name__ == "__main__":
    main()
