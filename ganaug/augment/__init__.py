"""Synthetic data into training: the ``GANAugmented`` dataset, transforms and the batch mixer.

- :class:`GANAugmented`: real dataset + synthetic items (per-index, CPU / DataLoader workers);
- :class:`SyntheticReplace`: torchvision v2 transform (``ganaug.augment.albu`` has the
  albumentations one, imported only when used);
- :class:`SyntheticMixer` and :func:`mix`: batch-level, on the training device.
"""

from .dataset import GANAugmented, worker_init_fn
from .mixer import MixLoader, SyntheticMixer, mix
from .transforms import SyntheticReplace

__all__ = [
    "GANAugmented",
    "MixLoader",
    "SyntheticMixer",
    "SyntheticReplace",
    "mix",
    "worker_init_fn",
]
