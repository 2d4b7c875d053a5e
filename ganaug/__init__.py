"""ganaug: turn a trained, optionally class-conditional GAN into extra training data for PyTorch.

The public names below are imported on first use (PEP 562), so ``import ganaug`` stays light:
no torchvision, torchmetrics or h5py until a feature that needs them is touched.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from ._version import __version__

_EXPORTS = {
    "Generator": ".engine",
    "load": ".engine",
    "to_uint8": ".engine",
    "ModelConfig": ".models",
    "create_discriminator": ".models",
    "create_generator": ".models",
    "list_archs": ".models",
    "read_model_file": ".modelfile",
    "save": ".modelfile",
    "GANAugmented": ".augment",
    "SyntheticMixer": ".augment",
    "SyntheticReplace": ".augment",
    "mix": ".augment",
    "H5Dataset": ".h5dataset",
    "export": ".export",
    "FilteredSource": ".filtering",
    "EvalReport": ".evaluate",
    "evaluate": ".evaluate",
    "train": ".train",
}

__all__ = [
    "__version__",
    "Generator",
    "load",
    "to_uint8",
    "ModelConfig",
    "create_discriminator",
    "create_generator",
    "list_archs",
    "read_model_file",
    "save",
    "GANAugmented",
    "SyntheticMixer",
    "SyntheticReplace",
    "mix",
    "H5Dataset",
    "export",
    "FilteredSource",
    "EvalReport",
    "evaluate",
    "train",
]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time names resolve lazily
    from .augment import GANAugmented, SyntheticMixer, SyntheticReplace, mix
    from .engine import Generator, load, to_uint8
    from .evaluate import EvalReport, evaluate
    from .export import export
    from .filtering import FilteredSource
    from .h5dataset import H5Dataset
    from .modelfile import read_model_file, save
    from .models import ModelConfig, create_discriminator, create_generator, list_archs
    from .train import train


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ganaug' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # cache: the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


class _Package(types.ModuleType):
    """Keeps ``ganaug.export`` / ``ganaug.train`` / ``ganaug.evaluate`` the functions.

    Importing a submodule sets it as an attribute of its package; where a submodule shares its
    name with a public function, that would replace the function by the module.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
