"""The two image forms and the shape check every part of ganaug shares.

Inside, images are float ``(B, C, H, W)`` in ``[-1, 1]``; outside, ``uint8`` in ``[0, 255]``.
One formula each way, so a row converted anywhere (training batches, filters, classifiers,
files) gets the same float bits.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["to_uint8", "to_float", "expect_shape"]


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] -> uint8 in [0, 255] (round to nearest); ``x`` is not modified."""
    return x.float().mul(127.5).add_(127.5).round_().clamp_(0, 255).to(torch.uint8)


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images in [0, 255] -> float32 in [-1, 1]; float input is taken as already there."""
    if x.dtype != torch.uint8:
        return x.float()
    return x.float().div_(127.5).sub_(1.0)  # the exact inverse of to_uint8's x * 127.5 + 127.5


def expect_shape(
    found: Sequence[int],
    expected: Sequence[int],
    *,
    what: str = "images",
    whose: str = "the source makes",
    batch: int | None = None,
) -> None:
    """Raise ValueError unless an image shape ``found`` is ``expected`` (both (C, H, W)).

    The message says what was expected and what was found; with ``batch`` (the rows of a
    batch) both are shown as (B, C, H, W).
    """
    found, expected = tuple(int(s) for s in found), tuple(int(s) for s in expected)
    if found == expected:
        return
    if batch is None:
        want, got = f"{expected} (C, H, W)", f"{found}"
    else:
        want, got = f"(B, {', '.join(map(str, expected))})", f"{(batch, *found)}"
    raise ValueError(f"expected {what} of shape {want}, got {got}: {whose} {expected}")
