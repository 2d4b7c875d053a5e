"""The single-file model: safetensors tensors + a JSON config and provenance in its metadata.

No pickle anywhere: ``safetensors`` holds only raw tensors, so a model file from a stranger
cannot run code. Layout: tensors ``generator.*`` (EMA weights when training kept them),
``discriminator.*`` and, once an anomaly encoder is fitted, ``encoder.*``; metadata ``format``,
``format_version``, ``config`` (JSON), ``provenance`` (JSON) and, with an encoder, ``encoder``
(JSON: its architecture, score statistics and how it was fitted; see ``ganaug.anomaly``). Files
without an encoder are complete models: the encoder is optional.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_bytes
from torch import nn

from .._files import replacing
from .._version import __version__
from ..models import ModelConfig, create_discriminator, create_generator

__all__ = ["ModelFile", "save", "read_model_file", "resolve_model_path", "BUNDLED", "file_sha256"]

FORMAT = "ganaug-model"
FORMAT_VERSION = "1"
BUNDLED = {"fashion-mnist": "fashion-mnist.safetensors"}
_PREFIXES = ("module.", "_orig_mod.")  # DDP / torch.compile wrappers


@dataclass
class ModelFile:
    """What a model file holds, before any module is built."""

    path: Path
    config: ModelConfig
    provenance: dict[str, Any]
    generator_state: dict[str, torch.Tensor]
    discriminator_state: dict[str, torch.Tensor] = field(default_factory=dict)
    encoder_state: dict[str, torch.Tensor] = field(default_factory=dict)
    encoder_meta: dict[str, Any] | None = None  # None: no encoder fitted

    def build_generator(self) -> nn.Module:
        g = create_generator(self.config)
        _load_state(g, self.generator_state, "generator", self.path)
        return g.eval()

    def build_discriminator(self) -> nn.Module:
        if not self.discriminator_state:
            raise ValueError(f"{self.path} holds no discriminator weights")
        d = create_discriminator(self.config)
        _load_state(d, self.discriminator_state, "discriminator", self.path)
        return d.eval()


def clean_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """The unwrapped module's tensors, contiguous and on the CPU (timm ``clean_state_dict``)."""
    out = {}
    for key, value in module.state_dict().items():
        for prefix in _PREFIXES:
            while key.startswith(prefix):
                key = key[len(prefix) :]
            key = key.replace("." + prefix, ".")
        out[key] = value.detach().to("cpu").contiguous()
    return out


def _state(module: nn.Module | dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if isinstance(module, dict):
        return {k: v.detach().to("cpu").contiguous() for k, v in module.items()}
    return clean_state_dict(module)


def save(
    path: str | os.PathLike,
    *,
    config: ModelConfig,
    generator: nn.Module | dict[str, torch.Tensor],
    discriminator: nn.Module | dict[str, torch.Tensor] | None = None,
    provenance: dict[str, Any] | None = None,
    encoder: nn.Module | dict[str, torch.Tensor] | None = None,
    encoder_meta: dict[str, Any] | None = None,
) -> Path:
    """Write one ``.safetensors`` model file atomically (never half-written under ``path``).

    Each network is a module or its state dict; ``encoder`` (the anomaly encoder) needs its
    ``encoder_meta`` (see ``ganaug.anomaly``).

    Example:
        >>> cfg = ModelConfig(arch="dcgan", image_shape=(1, 28, 28), num_classes=10)
        >>> save("g.safetensors", config=cfg, generator=create_generator(cfg))  # doctest: +SKIP
    """
    path = Path(path)
    if (encoder is None) != (encoder_meta is None):
        raise ValueError("an encoder needs its encoder_meta, and encoder_meta its encoder")
    tensors = {f"generator.{k}": v for k, v in _state(generator).items()}
    if discriminator is not None:
        tensors |= {f"discriminator.{k}": v for k, v in _state(discriminator).items()}
    if encoder is not None:
        tensors |= {f"encoder.{k}": v for k, v in _state(encoder).items()}
    prov = {"ganaug_version": __version__, **(provenance or {})}
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": json.dumps(config.to_dict(), sort_keys=True),
        "provenance": json.dumps(prov, sort_keys=True),
    }
    if encoder_meta is not None:
        metadata["encoder"] = json.dumps(encoder_meta, sort_keys=True)
    for name, t in tensors.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise ValueError(f"refusing to save a model with non-finite values in {name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp:
        tmp.write_bytes(_canonical(save_bytes(tensors, metadata=metadata)))
    return path


def _canonical(blob: bytes) -> bytes:
    """Rewrite the safetensors JSON header with sorted keys: same command, same bytes.

    safetensors keeps metadata in a hash map whose order changes from run to run; sorting the
    header (same length, so the data offsets stay valid) makes the file reproducible.
    """
    n = int.from_bytes(blob[:8], "little")
    header = json.dumps(json.loads(blob[8 : 8 + n]), sort_keys=True, separators=(",", ":"))
    raw = header.encode()
    if len(raw) > n:  # cannot happen for the same content; keep the original if it does
        return blob
    return blob[:8] + raw + b" " * (n - len(raw)) + blob[8 + n :]


def resolve_model_path(model: str | os.PathLike | None) -> Path:
    """A path as given, or the file of a bundled model name (``None`` = ``fashion-mnist``)."""
    if model is None:
        model = "fashion-mnist"
    if isinstance(model, str) and model in BUNDLED:
        path = Path(str(resources.files("ganaug") / "assets" / BUNDLED[model]))
        if not path.exists():
            raise FileNotFoundError(
                f"the bundled model {model!r} is missing from this install (expected {path})"
            )
        return path
    path = Path(model)
    if not path.exists():
        raise FileNotFoundError(
            f"no model file at {str(path)!r}; expected a .safetensors file written by ganaug "
            f"or a bundled model name ({', '.join(BUNDLED)})"
        )
    if path.is_dir():
        raise IsADirectoryError(f"expected a .safetensors model file, got the directory {path}")
    return path


def _sniff_foreign(path: Path) -> str | None:
    with open(path, "rb") as f:
        head = f.read(9)
    if head[8:9] == b"{":  # safetensors: u64 header length, then the JSON header
        return None
    if head[:2] == b"PK":
        return "a zip archive (a PyTorch .pt/.pth checkpoint?)"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle (a PyTorch .pt/.pth checkpoint?)"
    if head[:4] == b"\x89HDF":
        return "an HDF5 file (synthetic samples? open it with ganaug.H5Dataset)"
    return None


def read_model_file(path: str | os.PathLike | None) -> ModelFile:
    """Read and validate a model file (or a bundled model name) without building modules."""
    path = resolve_model_path(path)
    foreign = _sniff_foreign(path)
    if foreign:
        raise ValueError(
            f"{path} is {foreign}, not a ganaug model file; ganaug loads only .safetensors files "
            f"with a ganaug config and never unpickles"
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        size = path.stat().st_size
        raise ValueError(
            f"{path} ({size} bytes) is not a readable safetensors file; it may be truncated or "
            f"corrupt ({e})"
        ) from e
    if metadata.get("format") != FORMAT:
        raise ValueError(
            f"{path} is a safetensors file but not a ganaug model: expected metadata "
            f"format={FORMAT!r}, found {metadata.get('format')!r} (keys: {sorted(metadata)})"
        )
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has ganaug model format version {metadata.get('format_version')!r}; "
            f"this ganaug ({__version__}) reads version {FORMAT_VERSION}"
        )
    try:
        config = ModelConfig.from_dict(json.loads(metadata["config"]))
        provenance = json.loads(metadata.get("provenance", "{}"))
        encoder_meta = json.loads(metadata["encoder"]) if "encoder" in metadata else None
    except (KeyError, json.JSONDecodeError, TypeError) as e:
        raise ValueError(f"{path} has a missing or malformed ganaug config: {e}") from e
    except ValueError as e:  # e.g. an arch_args key this ganaug does not know
        raise ValueError(f"{path} has a ganaug config this version cannot build: {e}") from e
    gen, disc, enc = (_prefixed(tensors, p) for p in ("generator", "discriminator", "encoder"))
    if not gen:
        raise ValueError(f"{path} holds no generator.* tensors; found {sorted(tensors)[:5]}")
    if bool(enc) != (encoder_meta is not None):
        raise ValueError(
            f"{path}: an encoder needs both its encoder.* tensors and its 'encoder' metadata; "
            f"found {len(enc)} tensors and {'no' if encoder_meta is None else 'the'} metadata"
        )
    _check_tensors(path, config, gen, disc)
    _check_finite(path, "encoder", enc)
    return ModelFile(path, config, provenance, gen, disc, enc, encoder_meta)


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    n = len(prefix) + 1
    return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def _check_finite(path: Path, prefix: str, state: dict[str, torch.Tensor]) -> None:
    for name, t in state.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise ValueError(
                f"{path}: the tensor {prefix}.{name} holds NaN or inf values; the model "
                f"file is damaged (or was saved from a diverged run)"
            )


def _check_tensors(
    path: Path, config: ModelConfig, gen: dict[str, torch.Tensor], disc: dict[str, torch.Tensor]
) -> None:
    """Refuse weights that hold NaN/inf, or whose names and shapes are not what the config's
    architecture has (checked on the meta device: no memory, no compute)."""
    _check_finite(path, "generator", gen)
    _check_finite(path, "discriminator", disc)
    with torch.device("meta"):
        expected = {"generator": create_generator(config).state_dict()}
        if disc:
            expected["discriminator"] = create_discriminator(config).state_dict()
    for prefix, state in (("generator", gen), ("discriminator", disc)):
        if prefix not in expected:
            continue
        want = {k: tuple(v.shape) for k, v in expected[prefix].items()}
        have = {k: tuple(v.shape) for k, v in state.items()}
        if want == have:
            continue
        missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
        wrong = [
            f"{k} {have[k]} (expected {want[k]})"
            for k in sorted(want)
            if k in have and have[k] != want[k]
        ]
        parts = [
            f"missing {missing[:3]}" if missing else "",
            f"unexpected {extra[:3]}" if extra else "",
            f"shapes {wrong[:3]}" if wrong else "",
        ]
        raise ValueError(
            f"{path}: the {prefix} tensors do not match the architecture its config describes "
            f"({cfg_text(config)}): {'; '.join(p for p in parts if p)}"
        )


def cfg_text(config: ModelConfig) -> str:
    shape = tuple(config.image_shape)
    return f"arch {config.arch!r}, image shape {shape}, arch_args {config.arch_args}"


def _load_state(module: nn.Module, state: dict[str, torch.Tensor], what: str, path: Path) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ValueError(
            f"{path}: the {what} weights do not match the architecture its config describes ({e})"
        ) from e


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
