"""Pure kernels for mixing synthetic rows into real data (no randomness, never in place).

The transforms and the mixer decide *which* rows become synthetic and *which* sample indices
they use (``make_params``); these functions only do the work, so they are easy to test and to
reuse. Images are ``(B, C, H, W)`` tensors unless said otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from .._images import expect_shape

__all__ = [
    "replace_rows",
    "append_rows",
    "soft_targets",
    "hard_classes",
    "match_images",
    "check_batch",
    "check_normalize",
]

Normalize = tuple[Sequence[float], Sequence[float]] | Callable[[torch.Tensor], torch.Tensor] | None


def check_batch(x: torch.Tensor, image_shape: tuple[int, int, int], *, what: str = "x") -> None:
    """Raise ValueError unless ``x`` is a (B, C, H, W) tensor of the source's image shape."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"expected {what} to be a (B, C, H, W) tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"expected {what} of shape (B, C, H, W), got shape {tuple(x.shape)}")
    expect_shape(x.shape[1:], image_shape, what=what, batch=x.shape[0])


def match_images(
    synth: torch.Tensor, like: torch.Tensor, normalize: Normalize = None
) -> torch.Tensor:
    """Convert synthetic images to the form of the real batch ``like``.

    Args:
        synth: (N, C, H, W) float in [-1, 1], or uint8 in [0, 255].
        like: a real batch; its dtype and device are copied.
        normalize: ``(mean, std)`` applied to [0, 1] images (as ``v2.Normalize``), or a
            callable taking a float (N, C, H, W) batch in [0, 1]; None: uint8 real batches get
            uint8 in [0, 255], float ones get [0, 1] (torchvision's float image convention).

    Returns:
        (N, C, H, W) on ``like.device`` with ``like.dtype``.
    """
    synth = synth.to(like.device)
    if synth.dtype == torch.uint8:
        x01 = synth.float() / 255.0  # (N, C, H, W) in [0, 1]
    else:
        x01 = (synth.float() + 1.0) * 0.5
    if callable(normalize):
        x01 = normalize(x01)
    elif normalize is not None:
        mean, std = normalize
        shape = (1, -1, 1, 1)
        m = torch.as_tensor(mean, dtype=x01.dtype, device=x01.device).reshape(shape)
        s = torch.as_tensor(std, dtype=x01.dtype, device=x01.device).reshape(shape)
        x01 = (x01 - m) / s
    if like.dtype == torch.uint8:
        if normalize is not None:
            raise ValueError(
                "normalize was given but the real batch is uint8; normalise real "
                "and synthetic rows the same way (pass float batches)"
            )
        return (x01 * 255.0).round().clamp(0, 255).to(torch.uint8)
    if not like.dtype.is_floating_point:
        raise ValueError(f"expected a uint8 or floating point batch, got dtype {like.dtype}")
    return x01.to(like.dtype)


def replace_rows(x: torch.Tensor, synth: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """A new tensor equal to ``x`` with ``x[rows]`` replaced by ``synth`` (len(rows) rows)."""
    out = x.clone()
    if rows.numel():
        out[rows.to(x.device)] = synth.to(dtype=x.dtype, device=x.device)
    return out


def append_rows(x: torch.Tensor, synth: torch.Tensor) -> torch.Tensor:
    """``cat([x, synth])`` in x's dtype and device (always a new tensor)."""
    return torch.cat([x, synth.to(dtype=x.dtype, device=x.device)])


def soft_targets(classes: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """One-hot rows (N, K) for class indices, in the dtype/device of soft labels ``like`` (B, K)."""
    k = like.shape[-1]
    out = torch.zeros((classes.numel(), k), dtype=like.dtype, device=like.device)
    if classes.numel():
        out[torch.arange(classes.numel(), device=like.device), classes.to(like.device)] = 1
    return out


def hard_classes(y: torch.Tensor) -> torch.Tensor:
    """Class indices (B,) from hard labels (B,) or one-hot / soft labels (B, K) (argmax)."""
    if y.ndim == 1:
        return y.to(torch.int64)
    if y.ndim == 2:
        return y.argmax(dim=1)
    raise ValueError(f"expected labels of shape (B,) or (B, num_classes), got {tuple(y.shape)}")


def check_normalize(normalize: Normalize, channels: int) -> None:
    """Raise ValueError unless ``normalize`` is ``(mean, std)`` of 1 or C non-zero values each."""
    try:
        mean, std = normalize
        mean, std = list(mean), list(std)
    except (TypeError, ValueError):
        raise ValueError(
            f"expected normalize=(mean, std) sequences or a callable, got {normalize!r}"
        ) from None
    for name, v in (("mean", mean), ("std", std)):
        if len(v) not in (1, channels):
            raise ValueError(
                f"expected normalize {name} of length 1 or {channels} (channels), got {len(v)}"
            )
    if any(s == 0 for s in std):
        raise ValueError(f"expected normalize std != 0, got {std}")
