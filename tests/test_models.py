"""Registry sweep: every architecture, several image shapes, conditional or not."""

from __future__ import annotations

import pytest
import torch

import ganaug
from ganaug.models import (
    ModelConfig,
    create_discriminator,
    create_generator,
    list_archs,
    recorded_defaults,
)

SHAPES = [(1, 28, 28), (3, 32, 32), (1, 20, 20), (3, 64, 64), (1, 8, 8), (3, 27, 33)]


def test_registry_lists_both_families():
    assert {"mlp", "dcgan"} <= set(list_archs())


@pytest.mark.parametrize("arch", list_archs())
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("num_classes", [0, 10])
def test_shapes_finite_and_every_param_gets_grad(arch, shape, num_classes):
    torch.manual_seed(0)
    args = {**recorded_defaults(arch), "spectral_norm": True}  # what `ganaug train` builds
    cfg = ModelConfig(arch=arch, image_shape=shape, num_classes=num_classes, arch_args=args)
    g, d = create_generator(cfg), create_discriminator(cfg)
    z = torch.randn(4, cfg.latent_dim)
    y = torch.randint(0, num_classes, (4,)) if num_classes else None
    x = g(z, y)
    assert x.shape == (4, *shape)
    assert x.min() >= -1 and x.max() <= 1
    logits = d(x, y)
    assert logits.shape == (4,)
    assert torch.isfinite(logits).all()
    phi = d.features(x)  # what anomaly scoring compares
    assert phi.shape[0] == 4 and phi.dim() == 2 and torch.isfinite(phi).all()
    logits.sum().backward()
    for name, p in [*g.named_parameters(), *d.named_parameters()]:
        assert p.grad is not None, f"{arch} {shape} k={num_classes}: no grad for {name}"
    with torch.no_grad():  # eval: spectral norm's power iteration stops changing D
        d.eval()
        assert torch.allclose(d.head(d.features(x), y), d(x, y))


def test_classic_mlp_layer_sizes():
    cfg = ModelConfig(arch="mlp", image_shape=(1, 28, 28))
    g, d = create_generator(cfg), create_discriminator(cfg)
    g_sizes = [m.out_features for m in g.modules() if isinstance(m, torch.nn.Linear)]
    d_sizes = [m.out_features for m in d.modules() if isinstance(m, torch.nn.Linear)]
    assert g_sizes == [256, 512, 1024, 784]
    assert d_sizes == [1024, 512, 256, 1]


@pytest.mark.parametrize("shape", [(2, 28, 28), (1, 4, 4), (3, 128, 128), (28, 28)])
def test_unsupported_image_shape_names_expected_and_found(shape):
    with pytest.raises(ValueError, match=r"expected an image shape .* got"):
        ModelConfig(arch="dcgan", image_shape=shape)


def test_unknown_arch_lists_known():
    with pytest.raises(ValueError, match=r"unknown architecture 'stylegan9'.*dcgan.*mlp"):
        ganaug.ModelConfig(arch="stylegan9", image_shape=(1, 28, 28))


@pytest.mark.parametrize("arch", ["dcgan", "mlp"])
def test_unknown_arch_args_are_refused_not_ignored(arch):
    # {"width": 32} for dcgan once trained the default 64-wide model without a word
    with pytest.raises(ValueError, match=r"unknown arch_args \['width'\] for architecture"):
        ModelConfig(arch=arch, image_shape=(1, 28, 28), arch_args={"width": 32})


def test_conditional_model_requires_labels():
    cfg = ModelConfig(arch="dcgan", image_shape=(1, 28, 28), num_classes=3)
    with pytest.raises(ValueError, match="class-conditional"):
        create_generator(cfg)(torch.randn(2, 100), None)


def test_config_round_trip_and_class_names():
    cfg = ModelConfig(
        arch="dcgan",
        image_shape=(3, 32, 32),
        num_classes=2,
        class_names=["cat", "dog"],
        arch_args={"g_width": 32},
    )
    again = ModelConfig.from_dict(cfg.to_dict())
    assert again == cfg
    with pytest.raises(ValueError, match="expected 2 class names, got 1"):
        ModelConfig(arch="dcgan", image_shape=(3, 32, 32), num_classes=2, class_names=["cat"])


@pytest.mark.parametrize("arch", ["dcgan", "cdcgan"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 27, 33)])
def test_d_extra_adds_same_width_convolutions_at_the_smallest_map(arch, shape):
    torch.manual_seed(0)
    base = ModelConfig(arch=arch, image_shape=shape, num_classes=10)
    more = ModelConfig(arch=arch, image_shape=shape, num_classes=10, arch_args={"d_extra": 2})
    d0, d2 = create_discriminator(base), create_discriminator(more)
    convs0 = [m for m in d0.body if isinstance(m, torch.nn.Conv2d)]
    convs2 = [m for m in d2.body if isinstance(m, torch.nn.Conv2d)]
    assert len(convs2) == len(convs0) + 2
    width = convs0[-1].out_channels
    for c in convs2[len(convs0) :]:
        shape_of = (c.in_channels, c.out_channels, c.kernel_size, c.stride)
        assert shape_of == (width, width, (3, 3), (1, 1))
    x, y = torch.rand(3, *shape) * 2 - 1, torch.tensor([0, 4, 9])
    assert d2.features(x).shape == d0.features(x).shape  # same map, same head
    d2(x, y).sum().backward()
    assert all(p.grad is not None for p in d2.parameters())
