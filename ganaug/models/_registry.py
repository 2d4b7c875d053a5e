"""A small architecture registry: ``@register_arch`` fills a dict, factories build from it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

__all__ = [
    "ModelConfig",
    "register_arch",
    "list_archs",
    "create_generator",
    "create_discriminator",
    "check_image_shape",
]

MIN_SIDE, MAX_SIDE = 8, 64
CHANNELS = (1, 3)


@dataclass
class ModelConfig:
    """Everything needed to rebuild a GAN: travels inside the model file next to the weights.

    Args:
        arch: registered architecture name (``mlp``, ``dcgan``).
        image_shape: ``(C, H, W)``, C in {1, 3}, H and W in [8, 64].
        latent_dim: size of the latent vector z.
        num_classes: 0 for an unconditional model.
        class_names: one name per class (defaults to "0", "1", ...).
        arch_args: architecture-specific keyword arguments (widths, spectral_norm, ...).

    uint8 images map to the model's [-1, 1] range as ``x / 127.5 - 1`` (``ganaug._images``).
    """

    arch: str
    image_shape: tuple[int, int, int]
    latent_dim: int = 100
    num_classes: int = 0
    class_names: list[str] = field(default_factory=list)
    arch_args: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.image_shape = tuple(int(s) for s in self.image_shape)  # type: ignore[assignment]
        check_image_shape(self.image_shape)
        if self.arch not in _ARCHS:
            raise ValueError(f"unknown architecture {self.arch!r}; expected one of {list_archs()}")
        allowed = _ARCHS[self.arch]["arch_args"]
        unknown = sorted(set(self.arch_args) - allowed)
        if unknown:  # a typo here would otherwise silently train the default size
            raise ValueError(
                f"unknown arch_args {unknown} for architecture {self.arch!r}; expected some of "
                f"{sorted(allowed)}"
            )
        if self.latent_dim < 1:
            raise ValueError(f"expected latent_dim >= 1, got {self.latent_dim}")
        if self.num_classes < 0:
            raise ValueError(
                f"expected num_classes >= 0 (0 = unconditional), got {self.num_classes}"
            )
        if not self.class_names:
            self.class_names = [str(k) for k in range(self.num_classes)]
        if len(self.class_names) != self.num_classes:
            raise ValueError(
                f"expected {self.num_classes} class names, got {len(self.class_names)}: "
                f"{self.class_names}"
            )
        self.class_names = [str(c) for c in self.class_names]

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["image_shape"] = list(self.image_shape)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        # model files written before this field was dropped record a fixed "normalization" (the
        # same [-1, 1] mapping for every model); it never varied, so it is ignored
        d = {k: v for k, v in d.items() if k != "normalization"}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(
                f"unknown model config keys {sorted(unknown)}; expected {sorted(known)}"
            )
        return cls(**d)


_ARCHS: dict[str, dict[str, Any]] = {}


def register_arch(name: str) -> Callable[[type], type]:
    """Class decorator for an architecture with ``generator(cfg)`` / ``discriminator(cfg)`` and
    ``ARCH_ARGS``, the names its ``cfg.arch_args`` may hold; optional ``RECORDED``, the
    defaults a trained model file writes down (so a later change of default cannot change how
    an existing file is rebuilt)."""

    def wrap(cls: type) -> type:
        _ARCHS[name] = {
            "generator": cls.generator,
            "discriminator": cls.discriminator,
            "arch_args": frozenset(cls.ARCH_ARGS),
            "recorded": dict(getattr(cls, "RECORDED", {})),
        }
        return cls

    return wrap


def list_archs() -> list[str]:
    return sorted(_ARCHS)


def recorded_defaults(arch: str) -> dict[str, Any]:
    """The architecture options a new model file records even when not given."""
    return dict(_ARCHS[arch]["recorded"])


def create_generator(config: ModelConfig) -> nn.Module:
    """Build the generator: ``G(z (B, latent_dim), y (B,) | None) -> (B, C, H, W) in [-1, 1]``."""
    return _ARCHS[config.arch]["generator"](config)


def create_discriminator(config: ModelConfig) -> nn.Module:
    """Build the discriminator: ``D(x (B, C, H, W), y (B,) | None) -> (B,) logits``, with
    ``D.features(x) -> (B, F)``, the label-free features, and ``D.head(phi, y)``, so that
    ``D(x, y) == D.head(D.features(x), y)`` (anomaly scoring reuses the features)."""
    return _ARCHS[config.arch]["discriminator"](config)


def check_image_shape(shape: tuple[int, ...]) -> None:
    if len(shape) != 3:
        raise ValueError(f"expected an image shape (C, H, W), got {tuple(shape)}")
    c, h, w = shape
    if c not in CHANNELS or not (MIN_SIDE <= h <= MAX_SIDE and MIN_SIDE <= w <= MAX_SIDE):
        raise ValueError(
            f"expected an image shape (C, H, W) with C in {CHANNELS} and H, W in "
            f"[{MIN_SIDE}, {MAX_SIDE}], got {tuple(shape)}"
        )
