"""Shared fixtures: real Fashion-MNIST and small, freshly initialised model files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import ganaug
from ganaug.data import fashion_mnist


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def fmnist_train(data_root: Path):
    return fashion_mnist(data_root, train=True)


@pytest.fixture(scope="session")
def fmnist_test(data_root: Path):
    return fashion_mnist(data_root, train=False)


def make_model_file(
    path: Path,
    *,
    arch: str = "dcgan",
    image_shape=(1, 28, 28),
    num_classes: int = 10,
    seed: int = 0,
    **arch_args,
) -> Path:
    """An untrained (randomly initialised, seeded) model file: real weights, real format."""
    torch.manual_seed(seed)
    cfg = ganaug.ModelConfig(
        arch=arch, image_shape=image_shape, num_classes=num_classes, arch_args=arch_args
    )
    g, d = ganaug.create_generator(cfg), ganaug.create_discriminator(cfg)
    # a random init leaves BatchNorm running stats at 0/1; perturb them so eval mode is tested
    for m in g.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return ganaug.save(
        path, config=cfg, generator=g, discriminator=d, provenance={"steps": 0, "seed": seed}
    )


@pytest.fixture(scope="session")
def cond_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Class-conditional dcgan for (1, 28, 28), 10 classes, untrained."""
    return make_model_file(tmp_path_factory.mktemp("models") / "cond.safetensors")


@pytest.fixture(scope="session")
def uncond_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Unconditional mlp for (1, 28, 28), untrained."""
    return make_model_file(
        tmp_path_factory.mktemp("models") / "uncond.safetensors", arch="mlp", num_classes=0
    )


@pytest.fixture(scope="module")
def gen(cond_model_path: Path) -> ganaug.Generator:
    """The untrained conditional model, loaded."""
    return ganaug.load(cond_model_path)


@pytest.fixture(scope="module")
def ugen(uncond_model_path: Path) -> ganaug.Generator:
    """The untrained unconditional model, loaded."""
    return ganaug.load(uncond_model_path)
