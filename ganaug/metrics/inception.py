"""Feature spaces for evaluation: ganaug's domain classifier, or Inception-v3 when present.

Inception-v3 (torchvision, ImageNet weights) is the usual FID space for natural images. Its
weights are used only when they already sit in the local torch hub cache: nothing is ever
downloaded. Otherwise (and for grayscale data) the domain classifier is the feature space.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

__all__ = ["InceptionFeatures", "inception_weights_path", "FEATURE_SPACES"]

FEATURE_SPACES = ("auto", "domain", "inception")
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def inception_weights_path() -> Path:
    """Where torchvision keeps Inception-v3's ImageNet weights (``$TORCH_HOME``/hub/checkpoints)."""
    from torchvision.models import Inception_V3_Weights

    name = os.path.basename(Inception_V3_Weights.IMAGENET1K_V1.url)
    return Path(torch.hub.get_dir()) / "checkpoints" / name


class InceptionFeatures(nn.Module):
    """Inception-v3 pool features (B, 2048) of float images (B, C, H, W) in [-1, 1].

    Grayscale is repeated to RGB; images are resized to 299x299 (bilinear, antialiased) and
    normalised with the ImageNet statistics, as torchvision's preset does.

    Args:
        weights: a local ``.pth`` state dict of torchvision's ``inception_v3`` (read with
            ``torch.load(weights_only=True)``: tensors only).
    """

    image_shape = None  # any (C, H, W) with C in {1, 3}
    num_features = 2048

    def __init__(self, *, weights: str | os.PathLike) -> None:
        super().__init__()
        from torchvision.models import inception_v3

        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(
                f"Inception-v3 weights not found at {path}; ganaug never downloads them. Place "
                f"torchvision's {path.name} there, or use the domain feature space"
            )
        net = inception_v3(weights=None, aux_logits=True, transform_input=True, init_weights=False)
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        net.fc = nn.Identity()
        self.net = net.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))
        self.source = str(path)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        x = nn.functional.interpolate(
            x * 0.5 + 0.5, size=(299, 299), mode="bilinear", antialias=True, align_corners=False
        )
        return self.net((x - self.mean) / self.std)  # eval mode: (B, 2048) pooled features
