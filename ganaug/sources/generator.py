"""``Generator``: batched, seeded, device-aware sampling from a model file; ``load`` makes one."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from .. import _rng
from ..models import ModelConfig
from .base import GeneratedSource, call_rows, in_calls, use_bf16
from .modelfile import ModelFile, file_sha256, read_model_file

__all__ = ["Generator", "load", "DEFAULT_BATCH"]

DEFAULT_BATCH = {"cpu": 512, "cuda": 8192}  # rows drawn per step: memory, not results


class Generator(GeneratedSource):
    """A loaded GAN generator that samples deterministically by index.

    Args:
        config: the architecture config (from the model file).
        module: the generator ``nn.Module``, ``G(z, y) -> (B, C, H, W)`` in [-1, 1].
        device: where sampling runs by default.
        model_file: the file it came from (gives provenance, sha256 and the discriminator).
        compile: wrap the module with ``torch.compile`` (pays off for long runs on GPU).
        precision: "auto" (bf16 autocast on CUDA and on CPUs with native bf16 units, else
            fp32), "fp32" or "bf16". Bytes are deterministic for a given machine and precision;
            bf16 and fp32 samples differ slightly.

    Example:
        >>> g = ganaug.load("fashion-mnist")  # doctest: +SKIP
        >>> images, labels = g.sample(16, labels="balanced", seed=0)  # (16, 1, 28, 28) uint8
    """

    def __init__(
        self,
        config: ModelConfig,
        module: nn.Module,
        *,
        device: str | torch.device = "cpu",
        model_file: ModelFile | None = None,
        compile: bool = False,
        precision: str = "auto",
    ) -> None:
        use_bf16(precision, torch.device("cpu"))  # validates
        self.config = config
        self.precision = precision
        self.model_file = model_file
        self.compile = compile
        self._device = torch.device(device)
        self._modules: dict[torch.device, nn.Module] = {}
        self._cpu_module = module.to("cpu").eval().requires_grad_(False)
        self._sha256: str | None = None

    # SampleSource attributes
    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.config.image_shape

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @property
    def class_names(self) -> list[str]:
        return list(self.config.class_names)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def provenance(self) -> dict[str, Any]:
        return dict(self.model_file.provenance) if self.model_file else {}

    @property
    def sha256(self) -> str | None:
        """sha256 of the model file this generator was loaded from."""
        if self._sha256 is None and self.model_file is not None:
            self._sha256 = file_sha256(self.model_file.path)
        return self._sha256

    def resolved_precision(self, device: str | torch.device | None = None) -> str:
        """ "bf16" or "fp32": what sampling on ``device`` runs in (recorded by exports)."""
        dev = torch.device(device) if device is not None else self._device
        return "bf16" if use_bf16(self.precision, dev) else "fp32"

    def to(self, device: str | torch.device) -> Generator:
        self._device = torch.device(device)
        return self

    def module(self, device: str | torch.device | None = None) -> nn.Module:
        """The generator module on ``device`` (copies are cached per device)."""
        dev = torch.device(device) if device is not None else self._device
        if dev not in self._modules:
            m = self._cpu_module if dev.type == "cpu" else _copy_to(self._cpu_module, dev)
            self._modules[dev] = torch.compile(m) if self.compile else m
        return self._modules[dev]

    def discriminator(self, device: str | torch.device | None = None) -> nn.Module:
        """The discriminator stored next to the generator (for rejection sampling)."""
        if self.model_file is None:
            raise ValueError("this Generator was not loaded from a model file: no discriminator")
        dev = torch.device(device) if device is not None else self._device
        return self.model_file.build_discriminator().to(dev).requires_grad_(False)

    def latents(self, indices: torch.Tensor, seed: int) -> torch.Tensor:
        """(N, latent_dim) float32 latents, row i a pure function of (seed, indices[i])."""
        return _rng.normal(indices, seed, self.latent_dim)

    @torch.inference_mode()
    def generate(
        self,
        indices: torch.Tensor,
        labels: torch.Tensor,
        seed: int,
        *,
        batch_size: int | None = None,
        device: str | torch.device | None = None,
    ) -> torch.Tensor:
        """Float images (N, C, H, W) in [-1, 1] for absolute sample ``indices`` on ``device``."""
        dev = torch.device(device) if device is not None else self._device
        g = self.module(dev)
        rows = call_rows(dev)
        step = -(-(batch_size or DEFAULT_BATCH.get(dev.type, 1024)) // rows) * rows
        idx = indices.to(dev, torch.int64)
        y = labels.to(dev, torch.int64) if self.num_classes else None
        out = torch.empty((idx.numel(), *self.image_shape), device=dev)
        bf16 = use_bf16(self.precision, dev)

        def call(z: torch.Tensor, yb: torch.Tensor | None) -> torch.Tensor:
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
                return g(z, yb).float()

        for lo in range(0, idx.numel(), step):
            z = self.latents(idx[lo : lo + step], seed)  # (b, latent_dim)
            yb = y[lo : lo + step] if y is not None else None
            out[lo : lo + z.shape[0]] = in_calls(call, z, yb, rows=rows)
        return out

    def __repr__(self) -> str:
        c = self.config
        return (
            f"Generator(arch={c.arch!r}, image_shape={c.image_shape}, "
            f"num_classes={c.num_classes}, latent_dim={c.latent_dim}, device={self.device}, "
            f"precision={self.precision!r})"
        )


def _copy_to(module: nn.Module, device: torch.device) -> nn.Module:
    import copy

    return copy.deepcopy(module).to(device)


def load(
    model: str | os.PathLike | None = "fashion-mnist",
    *,
    device: str | torch.device = "cpu",
    compile: bool = False,
    precision: str = "auto",
) -> Generator:
    """Load a ganaug model file (or a bundled model name) as a :class:`Generator`.

    Weights trained on a GPU load on the CPU; no pickle is ever read.

    Example:
        >>> g = ganaug.load("fashion-mnist", device="cpu")  # doctest: +SKIP
    """
    mf = read_model_file(model)
    return Generator(
        mf.config,
        mf.build_generator(),
        device=device,
        model_file=mf,
        compile=compile,
        precision=precision,
    )
