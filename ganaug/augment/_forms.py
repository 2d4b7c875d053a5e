"""The raw form of a dataset's images (PIL, CHW tensor, HWC array), and conversion to it.

Synthetic rows must enter a user's pipeline in the same form as the real rows at the same
point: PIL in, PIL out; uint8 tensor in, uint8 tensor out; HWC array in, HWC array out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["ImageForm", "detect_form", "to_form"]


@dataclass(frozen=True)
class ImageForm:
    """How one image looks: ``kind`` "pil" | "tensor" | "numpy", plus layout details.

    ``layout`` is "CHW", "HW" or "HWC"; ``dtype`` the tensor / array dtype name ("uint8", or a
    float type meaning values in [0, 1]); ``pil_mode`` the PIL mode; ``tv_image`` whether the
    tensor was a ``tv_tensors.Image``.
    """

    kind: str
    layout: str
    dtype: str = "uint8"
    pil_mode: str | None = None
    tv_image: bool = False


def detect_form(img: Any) -> ImageForm:
    """The form of one raw image (a PIL image, a tensor or a numpy array)."""
    from PIL import Image

    if isinstance(img, Image.Image):
        return ImageForm(
            "pil", "HW" if img.mode in ("L", "I", "F", "1") else "HWC", pil_mode=img.mode
        )
    if isinstance(img, torch.Tensor):
        from torchvision import tv_tensors

        layout = {2: "HW", 3: "CHW"}.get(img.ndim)
        if layout is None:
            raise ValueError(
                f"expected an image tensor (C, H, W) or (H, W), got {tuple(img.shape)}"
            )
        return ImageForm(
            "tensor",
            layout,
            str(img.dtype).removeprefix("torch."),
            tv_image=isinstance(img, tv_tensors.Image),
        )
    if isinstance(img, np.ndarray):
        layout = {2: "HW", 3: "HWC"}.get(img.ndim)
        if layout is None:
            raise ValueError(f"expected an image array (H, W, C) or (H, W), got {img.shape}")
        return ImageForm("numpy", layout, str(img.dtype))
    raise ValueError(
        f"expected images as PIL images, tensors or numpy arrays, got {type(img).__name__}"
    )


def to_form(img: torch.Tensor, form: ImageForm) -> Any:
    """Convert one uint8 (C, H, W) CPU image to ``form`` (a new object; ``img`` untouched)."""
    if form.kind == "tensor":
        t = img.clone()
        if form.dtype != "uint8":
            t = t.to(getattr(torch, form.dtype)) / 255.0  # float image convention: [0, 1]
        t = t[0] if form.layout == "HW" else t
        if form.tv_image:
            from torchvision import tv_tensors

            t = tv_tensors.Image(t)
        return t
    arr = img.permute(1, 2, 0).numpy()  # (H, W, C)
    arr = arr[:, :, 0] if form.layout == "HW" else arr
    if form.kind == "numpy":
        out = np.ascontiguousarray(arr)
        return out if form.dtype == "uint8" else out.astype(form.dtype) / 255.0
    from PIL import Image

    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[img.shape[0]] if form.layout == "HWC" else "L"
    pil = Image.frombytes(mode, (img.shape[2], img.shape[1]), np.ascontiguousarray(arr).tobytes())
    return pil.convert(form.pil_mode) if form.pil_mode and pil.mode != form.pil_mode else pil
