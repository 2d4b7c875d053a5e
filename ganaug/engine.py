"""``Generator``: batched, seeded, device-aware sampling; the SampleSource every consumer uses."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import nn

from . import _rng
from .modelfile import ModelFile, file_sha256, read_model_file
from .models import ModelConfig

__all__ = ["Generator", "load", "to_uint8", "resolve_labels", "LabelSpec"]

LabelSpec = int | str | Sequence[int] | torch.Tensor | None
DEFAULT_BATCH = {"cpu": 512, "cuda": 8192}  # measured: benchmarks/RESULTS.md
# Every generator call gets a multiple of ROW_ALIGN rows (padded with zero latents): GEMM and
# conv kernels pick their blocking by the row count, and with the count a multiple of 64 each
# row's result is bit-identical whatever the batch size (tested), so sample i of seed s is the
# same bytes for any batch_size, worker count or shard split.
ROW_ALIGN = 64


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] -> uint8 in [0, 255] (round to nearest); ``x`` is not modified."""
    return x.float().mul(127.5).add_(127.5).round_().clamp_(0, 255).to(torch.uint8)


def resolve_labels(
    labels: LabelSpec, n: int, *, num_classes: int, seed: int = 0, start: int = 0
) -> torch.Tensor:
    """Turn a label spec into an (n,) int64 CPU tensor, -1 for an unconditional model.

    ``None`` / ``"uniform"``: uniform over classes, drawn per index; ``"balanced"``: index mod K;
    an int: that class; a sequence or tensor of length n: as given.
    """
    if n <= 0:
        raise ValueError(f"expected n > 0 samples, got {n}")
    if num_classes == 0:
        if labels is not None:
            raise ValueError(
                f"labels were given ({_short(labels)}) but this model is unconditional "
                f"(num_classes=0); pass labels=None"
            )
        return torch.full((n,), -1, dtype=torch.int64)
    idx = torch.arange(start, start + n, dtype=torch.int64)
    if labels is None or (isinstance(labels, str) and labels == "uniform"):
        return _rng.randint(idx, seed, num_classes)
    if isinstance(labels, str):
        if labels == "balanced":
            return idx % num_classes
        raise ValueError(
            f"expected labels None, 'uniform', 'balanced', an int or a sequence; "
            f"got the string {labels!r}"
        )
    if isinstance(labels, int) and not isinstance(labels, bool):
        out = torch.full((n,), labels, dtype=torch.int64)
    else:
        out = torch.as_tensor(labels).to("cpu")
        if out.is_floating_point() or out.dtype == torch.bool:
            raise ValueError(f"expected integer class labels, got dtype {out.dtype}")
        out = out.to(torch.int64).reshape(-1)
        if out.numel() != n:
            raise ValueError(f"expected {n} labels (one per sample), got {out.numel()}")
    if out.numel() and (out.min() < 0 or out.max() >= num_classes):
        bad = out[(out < 0) | (out >= num_classes)][:5].tolist()
        raise ValueError(
            f"labels must be in [0, {num_classes - 1}] for this model's "
            f"{num_classes} classes; found {bad}"
        )
    return out


def check_sample_args(output: str, batch_size: int | None) -> None:
    """Validate the ``output`` and ``batch_size`` arguments every SampleSource.sample takes."""
    if output not in ("uint8", "float"):
        raise ValueError(f"expected output 'uint8' or 'float', got {output!r}")
    if batch_size is not None and batch_size <= 0:
        raise ValueError(f"expected batch_size > 0, got {batch_size}")


def _short(x: Any) -> str:
    s = repr(x)
    return s if len(s) < 60 else s[:57] + "..."


class Generator:
    """A loaded GAN generator that samples deterministically by index.

    Args:
        config: the architecture config (from the model file).
        module: the generator ``nn.Module``, ``G(z, y) -> (B, C, H, W)`` in [-1, 1].
        device: where sampling runs by default.
        model_file: the file it came from (gives provenance, sha256 and the discriminator).
        compile: wrap the module with ``torch.compile`` (pays off for long runs on GPU).

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
    ) -> None:
        self.config = config
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
        bs = batch_size or DEFAULT_BATCH.get(dev.type, 1024)
        bs = -(-bs // ROW_ALIGN) * ROW_ALIGN
        idx = indices.to(dev, torch.int64)
        y = labels.to(dev, torch.int64) if self.num_classes else None
        out = torch.empty((idx.numel(), *self.image_shape), device=dev)
        use_bf16 = dev.type == "cuda"
        for lo in range(0, idx.numel(), bs):
            z = self.latents(idx[lo : lo + bs], seed)  # (b, latent_dim)
            b = z.shape[0]
            pad = -b % ROW_ALIGN
            z = torch.cat([z, z.new_zeros(pad, z.shape[1])]) if pad else z
            yb = None
            if y is not None:
                yb = y[lo : lo + bs]
                yb = torch.cat([yb, yb.new_zeros(pad)]) if pad else yb
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_bf16):
                out[lo : lo + b] = g(z, yb)[:b].float()
        return out

    def sample(
        self,
        n: int,
        labels: LabelSpec = None,
        seed: int = 0,
        *,
        start: int = 0,
        batch_size: int | None = None,
        device: str | torch.device | None = None,
        output: Literal["uint8", "float"] = "uint8",
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample images ``start .. start + n - 1`` of ``seed``.

        Args:
            n: number of samples (> 0).
            labels: None / "uniform" (random classes), "balanced" (index mod K), an int, or
                a sequence / tensor of n class indices. Must be None for unconditional models.
            seed: the sample stream; sample i of seed s is the same image for any batch size.
            start: index of the first sample (for resumable or sharded generation).
            batch_size: rows per generator call (default 512 on CPU, 8192 on CUDA).
            device: where to generate (default: this Generator's device).
            output: "uint8" (N, C, H, W) in [0, 255] or "float" in [-1, 1].

        Returns:
            ``(images, labels)`` on ``device``; labels are -1 for an unconditional model.
        """
        check_sample_args(output, batch_size)
        y = resolve_labels(labels, n, num_classes=self.num_classes, seed=seed, start=start)
        idx = torch.arange(start, start + n, dtype=torch.int64)
        x = self.generate(idx, y, seed, batch_size=batch_size, device=device)
        x = to_uint8(x) if output == "uint8" else x
        return x, y.to(x.device)

    def __repr__(self) -> str:
        c = self.config
        return (
            f"Generator(arch={c.arch!r}, image_shape={c.image_shape}, "
            f"num_classes={c.num_classes}, latent_dim={c.latent_dim}, device={self.device})"
        )


def _copy_to(module: nn.Module, device: torch.device) -> nn.Module:
    import copy

    return copy.deepcopy(module).to(device)


def load(
    model: str | os.PathLike | None = "fashion-mnist",
    *,
    device: str | torch.device = "cpu",
    compile: bool = False,
) -> Generator:
    """Load a ganaug model file (or a bundled model name) as a :class:`Generator`.

    Weights trained on a GPU load on the CPU; no pickle is ever read.

    Example:
        >>> g = ganaug.load("fashion-mnist", device="cpu")  # doctest: +SKIP
    """
    mf = read_model_file(model)
    return Generator(mf.config, mf.build_generator(), device=device, model_file=mf, compile=compile)
