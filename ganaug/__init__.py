"""ganaug: turn a trained, optionally class-conditional GAN into extra training data for PyTorch."""

from ._version import __version__
from .augment import GANAugmented, SyntheticMixer, SyntheticReplace, mix
from .engine import Generator, load, to_uint8
from .evaluate import EvalReport, evaluate
from .export import export
from .filtering import FilteredSource
from .h5dataset import H5Dataset
from .modelfile import read_model_file, save
from .models import ModelConfig, create_discriminator, create_generator, list_archs
from .train import train

__all__ = [
    "__version__",
    "GANAugmented",
    "SyntheticMixer",
    "SyntheticReplace",
    "mix",
    "Generator",
    "H5Dataset",
    "export",
    "ModelConfig",
    "create_discriminator",
    "create_generator",
    "list_archs",
    "load",
    "read_model_file",
    "save",
    "to_uint8",
    "train",
    "EvalReport",
    "evaluate",
    "FilteredSource",
]
