"""Generator/discriminator architectures in a small registry (``mlp``, ``dcgan``, ``cdcgan``)."""

from . import cdcgan, dcgan, mlp  # noqa: F401  (registers the architectures)
from ._registry import (
    ModelConfig,
    check_image_shape,
    create_discriminator,
    create_generator,
    list_archs,
    recorded_defaults,
    register_arch,
)

__all__ = [
    "ModelConfig",
    "check_image_shape",
    "create_discriminator",
    "create_generator",
    "list_archs",
    "recorded_defaults",
    "register_arch",
]
