"""Losses and DiffAugment: analytic values, gradients, explicit RNG, no in-place edits."""

from __future__ import annotations

import math

import pytest
import torch

from ganaug.training.diffaugment import diff_augment, parse_policy
from ganaug.training.losses import LOSSES, check_loss, d_loss, g_loss, gradient_penalty


def test_d_loss_values_at_known_logits():
    zero = torch.zeros(4)
    assert d_loss("minimax", zero, zero).item() == pytest.approx(2 * math.log(2))
    assert d_loss("hinge", torch.ones(4), -torch.ones(4)).item() == 0.0
    assert d_loss("hinge", zero, zero).item() == pytest.approx(2.0)
    assert d_loss("wgan-gp", torch.full((4,), 3.0), torch.full((4,), 1.0)).item() == -2.0
    assert d_loss("lsgan", torch.ones(4), zero).item() == 0.0
    assert d_loss("lsgan", zero, torch.ones(4)).item() == pytest.approx(1.0)


def test_g_loss_is_non_saturating_and_decreases_with_fake_logits():
    for name in LOSSES:
        f = torch.tensor([-3.0, 0.0, 0.5], requires_grad=True)
        g_loss(name, f).backward()
        assert (f.grad < 0).all(), name  # raising D(G(z)) lowers the generator loss
    # minimax uses -log sigmoid(f): a confident D (f = -10) still gives a strong gradient
    f = torch.tensor([-10.0], requires_grad=True)
    g_loss("minimax", f).backward()
    assert f.grad.abs().item() > 0.99


def test_gradient_penalty_of_a_linear_critic_is_exact():
    w = torch.tensor([3.0, 4.0]).view(1, 2, 1, 1)  # ||w|| = 5

    def critic(x):
        return (x * w).flatten(1).sum(1)

    real, fake = torch.randn(8, 2, 1, 1), torch.randn(8, 2, 1, 1)
    gp = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(0))
    assert gp.item() == pytest.approx(16.0)  # (5 - 1)^2 for every interpolate


def test_gradient_penalty_uses_the_given_generator_only():
    state = torch.get_rng_state()
    real, fake = torch.zeros(4, 1, 4, 4), torch.ones(4, 1, 4, 4)

    def critic(x):
        return x.square().flatten(1).sum(1)

    a = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(1))
    b = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and torch.equal(torch.get_rng_state(), state)


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="unknown loss 'wasserstein'.*minimax"):
        check_loss("wasserstein")
    with pytest.raises(ValueError, match="unknown loss"):
        d_loss("nope", torch.zeros(1), torch.zeros(1))


@pytest.fixture()
def images(fmnist_test):
    x = torch.as_tensor(fmnist_test.data[:16].numpy())[:, None].float() / 127.5 - 1.0
    return x  # (16, 1, 28, 28) real images in [-1, 1]


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "translation,cutout,color"])
def test_diffaugment_is_seeded_differentiable_and_not_in_place(images, policy):
    names = parse_policy(policy)
    before, state = images.clone(), torch.get_rng_state()
    x = images.clone().requires_grad_(True)
    a = diff_augment(x, names, torch.Generator().manual_seed(3))
    b = diff_augment(images, names, torch.Generator().manual_seed(3))
    c = diff_augment(images, names, torch.Generator().manual_seed(4))
    assert a.shape == images.shape and a.dtype == images.dtype
    assert torch.equal(a.detach(), b) and not torch.equal(b, c)
    assert torch.equal(images, before) and torch.equal(torch.get_rng_state(), state)
    a.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_translation_shifts_whole_images_and_cutout_zeroes_a_square(images):
    g = torch.Generator().manual_seed(0)
    shifted = diff_augment(images, ("translation",), g)
    for i in range(images.shape[0]):  # each output equals the input moved by some (dy, dx)
        found = False
        for dy in range(-4, 5):
            for dx in range(-4, 5):
                moved = torch.roll(images[i], (dy, dx), dims=(1, 2))
                inner = moved[:, 4:-4, 4:-4], shifted[i][:, 4:-4, 4:-4]
                found |= torch.equal(*inner)
        assert found, i
    cut = diff_augment(torch.ones(32, 1, 28, 28), ("cutout",), g)
    zeros = (cut == 0).flatten(1).sum(1)
    assert zeros.max() == 14 * 14 and zeros.min() > 0  # a 14x14 square, possibly clipped


def test_parse_policy():
    assert parse_policy("") == () and parse_policy(None) == ()
    assert parse_policy("translation, cutout") == ("translation", "cutout")
    with pytest.raises(ValueError, match="unknown diffaugment policy.*'flip'"):
        parse_policy("translation,flip")
