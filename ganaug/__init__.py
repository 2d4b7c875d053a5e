"""ganaug: turn a trained, optionally class-conditional GAN into extra training data for PyTorch.

The public names below are imported on first use (PEP 562), so ``import ganaug`` stays light:
no torchvision, torchmetrics or h5py until a feature that needs them is touched. The packages
(``sources``, ``augment``, ``io``, ``metrics``, ``anomaly``, ``training``, ``data``, ``models``,
``cli``) are listed in README's "Layout" section.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

_EXPORTS = {
    "Generator": ".sources",
    "load": ".sources",
    "to_uint8": ".sources",
    "SampleSource": ".sources",
    "FilteredSource": ".sources",
    "read_model_file": ".sources",
    "save": ".sources",
    "ModelConfig": ".models",
    "create_discriminator": ".models",
    "create_generator": ".models",
    "list_archs": ".models",
    "GANAugmented": ".augment",
    "SyntheticMixer": ".augment",
    "SyntheticReplace": ".augment",
    "mix": ".augment",
    "H5Dataset": ".io",
    "export": ".io",
    "AnomalyScorer": ".anomaly",
    "EvalReport": ".metrics",
    "evaluate": ".metrics",
    "train": ".training",
    "TrainConfig": ".training",
}

__all__ = [
    "__version__",
    "Generator",
    "load",
    "to_uint8",
    "SampleSource",
    "FilteredSource",
    "read_model_file",
    "save",
    "ModelConfig",
    "create_discriminator",
    "create_generator",
    "list_archs",
    "GANAugmented",
    "SyntheticMixer",
    "SyntheticReplace",
    "mix",
    "H5Dataset",
    "export",
    "AnomalyScorer",
    "EvalReport",
    "evaluate",
    "train",
    "TrainConfig",
]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time names resolve lazily
    from .anomaly import AnomalyScorer
    from .augment import GANAugmented, SyntheticMixer, SyntheticReplace, mix
    from .io import H5Dataset, export
    from .metrics import EvalReport, evaluate
    from .models import ModelConfig, create_discriminator, create_generator, list_archs
    from .sources import (
        FilteredSource,
        Generator,
        SampleSource,
        load,
        read_model_file,
        save,
        to_uint8,
    )
    from .training import TrainConfig, train


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ganaug' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # cache: the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
