"""--precision auto|fp32|bf16 for training and generation, the cdcgan architecture, LeCam and R1."""

from __future__ import annotations

import pytest
import torch

import ganaug
from ganaug.models import ModelConfig, create_discriminator, create_generator
from ganaug.sources.base import native_bf16, use_bf16
from ganaug.training import train
from ganaug.training.losses import r1_penalty
from ganaug.training.step import lecam_penalty

from .test_train import FAST, TINY_DCGAN, _weights, small  # noqa: F401  (the fixture)


def test_precision_resolution():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert not use_bf16("fp32", cpu) and not use_bf16("fp32", cuda)
    assert use_bf16("bf16", cpu) and use_bf16("bf16", cuda)
    assert use_bf16("auto", cuda) and use_bf16("auto", cpu) == native_bf16()
    with pytest.raises(ValueError, match="expected precision one of"):
        use_bf16("fp16", cpu)
    with pytest.raises(ValueError, match="expected precision one of"):
        ganaug.load("fashion-mnist", precision="half")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_generation_in_each_precision_is_finite_and_batch_exact(cond_model_path, precision):
    gen = ganaug.load(cond_model_path, precision=precision)
    assert gen.resolved_precision() == precision
    ref, _ = gen.sample(130, labels="balanced", seed=2, output="float")
    assert ref.shape == (130, 1, 28, 28) and torch.isfinite(ref).all()
    for bs in (1, 64, 200):
        x, _ = gen.sample(130, labels="balanced", seed=2, batch_size=bs, output="float")
        assert torch.equal(x, ref), f"{precision}, batch_size={bs}"


def test_bf16_and_fp32_samples_are_close_not_equal(cond_model_path):
    a, _ = ganaug.load(cond_model_path, precision="fp32").sample(64, seed=0, output="float")
    b, _ = ganaug.load(cond_model_path, precision="bf16").sample(64, seed=0, output="float")
    assert (a - b).abs().max() < 0.1 and not torch.equal(a, b)


def test_export_records_what_it_ran_in(cond_model_path, tmp_path):
    for precision in ("fp32", "bf16"):
        out = tmp_path / f"{precision}.h5"
        ganaug.export(cond_model_path, out, 32, device="cpu", precision=precision, progress=False)
        assert ganaug.H5Dataset(out).attrs["job"]["precision"] == precision


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_in_each_precision_is_finite_and_reproducible(tmp_path, small, precision):  # noqa: F811
    common = {"arch": "dcgan", "arch_args": TINY_DCGAN, "steps": 3, "batch_size": 32, **FAST}
    a = train(small, out=tmp_path / "a.safetensors", precision=precision, **common)
    b = train(small, out=tmp_path / "b.safetensors", precision=precision, **common)
    wa, wb = _weights(a), _weights(b)
    assert all(torch.isfinite(v).all() for v in wa.values() if v.is_floating_point())
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.parametrize(
    "cond_bn, z_embed, out_width, cond_dim",
    [
        (True, "mul", 0, 0),
        (False, "mul", 0, 0),
        (True, "none", 0, 0),
        (False, "concat", 32, 0),
        (True, "mul", 32, 0),
        (True, "mul", 32, 4),
        (True, "concat", 0, 2),
        (True, "none", 32, 4),
    ],
    ids=str,
)
def test_cdcgan_variants_every_param_gets_grad(cond_bn, z_embed, out_width, cond_dim):
    torch.manual_seed(0)
    args = {"cond_bn": cond_bn, "z_embed": z_embed, "out_width": out_width, "cond_dim": cond_dim}
    cfg = ModelConfig(arch="cdcgan", image_shape=(1, 28, 28), num_classes=10, arch_args=args)
    g, d = create_generator(cfg), create_discriminator(cfg)
    n_cbn = sum(type(m).__name__ == "ConditionalBN" for m in g.modules())
    # 28 x 28: the stem's BatchNorm, the 14 x 14 one, and the 28 x 28 one with out_width
    assert n_cbn == ((3 if out_width else 2) if cond_bn else 0)
    assert (g.embed is not None) == (z_embed != "none")  # "none": the label reaches cBN only
    y = torch.arange(4)
    x = g(torch.randn(4, cfg.latent_dim), y)
    assert x.shape == (4, 1, 28, 28) and torch.isfinite(x).all()
    d(x, y).sum().backward()
    for name, p in [*g.named_parameters(), *d.named_parameters()]:
        assert p.grad is not None, name


@pytest.mark.parametrize(
    "num_classes, cond_bn, out_width, shape, cond_dim",
    [
        (10, True, 32, (1, 28, 28), 0),
        (10, False, 0, (1, 28, 28), 0),
        (0, True, 32, (3, 32, 32), 0),
        (10, True, 32, (1, 28, 28), 4),
        (0, True, 0, (1, 28, 28), 4),  # unconditional: cond_dim has nothing to share
    ],
    ids=str,
)
def test_cdcgan_eval_mode_folds_batchnorm_into_the_same_function(
    num_classes, cond_bn, out_width, shape, cond_dim
):
    """Eval mode applies each BatchNorm as one per-class scale and shift: the training graph's
    function (fp32, to rounding), any layout, under bf16 autocast too, and no batch coupling."""
    from ganaug.models.cdcgan import CDCGANGenerator

    torch.manual_seed(0)
    args = {"cond_bn": cond_bn, "out_width": out_width, "g_width": 8, "cond_dim": cond_dim}
    cfg = ModelConfig(arch="cdcgan", image_shape=shape, num_classes=num_classes, arch_args=args)
    g = create_generator(cfg)
    for m in g.modules():  # trained-like running statistics, gains and biases
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
            if m.affine:
                torch.nn.init.normal_(m.weight)
                torch.nn.init.normal_(m.bias)
        if type(m).__name__ == "ConditionalBN" and m.embed is not None:
            torch.nn.init.normal_(m.embed.weight, std=0.5)
        if type(m).__name__ == "ConditionalBN" and m.proj is not None:
            torch.nn.init.normal_(m.proj.weight, std=0.5)
            torch.nn.init.normal_(m.proj.bias, std=0.5)
    g.eval()
    z = torch.randn(6, cfg.latent_dim)
    y = torch.tensor([0, 1, 2, 3, 4, 5]) if num_classes else None
    try:
        CDCGANGenerator.fast_eval = False
        ref = g(z, y)
        ref_bf16 = _bf16(g, z, y)
    finally:
        CDCGANGenerator.fast_eval = True
    with torch.inference_mode():
        fast = g(z, y)
        one = torch.cat([g(z[i : i + 1], None if y is None else y[i : i + 1]) for i in range(6)])
    assert fast.shape == ref.shape == (6, *shape) and fast.is_contiguous()
    assert torch.allclose(fast, ref, atol=1e-5), (fast - ref).abs().max()
    assert torch.allclose(one, fast, atol=1e-5)  # rows do not see each other
    assert (_bf16(g, z, y) - ref_bf16).abs().max() < 0.1  # bf16 rounding, not another function
    g.train()  # training keeps the batch-statistics graph: the gradient reaches every parameter
    g(z, y).sum().backward()
    assert all(p.grad is not None for p in g.parameters())


def _bf16(g: torch.nn.Module, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        return g(z, y).float()


def test_cdcgan_z_embed_none_still_draws_each_class_differently_and_needs_cond_bn():
    torch.manual_seed(0)
    cfg = ModelConfig(
        arch="cdcgan", image_shape=(1, 28, 28), num_classes=10, arch_args={"z_embed": "none"}
    )
    g = create_generator(cfg)
    for m in g.modules():  # an untrained cBN starts at gain 1, bias 0: give the classes their own
        if type(m).__name__ == "ConditionalBN":
            torch.nn.init.normal_(m.embed.weight, std=0.5)
    z = torch.randn(1, cfg.latent_dim).expand(2, -1)
    a, b = g.eval()(z, torch.tensor([0, 1]))
    assert not torch.allclose(a, b)  # the same z, two labels: two images
    with pytest.raises(ValueError, match="expected labels y"):
        g(z, None)
    with pytest.raises(ValueError, match="needs cond_bn true"):
        create_generator(
            ModelConfig(
                arch="cdcgan",
                image_shape=(1, 28, 28),
                num_classes=10,
                arch_args={"z_embed": "none", "cond_bn": False},
            )
        )
    with pytest.raises(ValueError, match="expected z_embed one of"):
        create_generator(
            ModelConfig(arch="cdcgan", image_shape=(1, 28, 28), arch_args={"z_embed": "add"})
        )


def test_lecam_penalty_pulls_d_outputs_towards_the_other_sides_anchor():
    anchors = torch.zeros(2)
    real, fake = torch.tensor([2.0, 4.0]), torch.tensor([-1.0, -3.0])
    penalty = lecam_penalty(anchors, real, fake, decay=0.5)
    assert torch.allclose(anchors, torch.tensor([1.5, -1.0]))  # EMAs of the means, updated first
    # relu(D(x) - a_fake)^2 = (3, 5)^2, relu(a_real - D(G(z)))^2 = (2.5, 4.5)^2
    expected = torch.tensor([9.0, 25.0]).mean() + torch.tensor([6.25, 20.25]).mean()
    assert torch.allclose(penalty, expected)


def test_lecam_trains_and_resumes_exactly(tmp_path, small):  # noqa: F811
    common = {
        "arch": "dcgan",
        "arch_args": TINY_DCGAN,
        "batch_size": 32,
        "lecam": 0.3,
        "precision": "fp32",
        **FAST,
    }
    full = train(small, out=tmp_path / "full.safetensors", steps=4, **common)
    part = tmp_path / "part.safetensors"
    train(small, out=part, steps=2, **common)
    train(small, out=part, steps=4, resume=True, **common)
    a, b = _weights(full), _weights(part)
    assert all(torch.isfinite(v).all() for v in a.values() if v.is_floating_point())
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_r1_penalty_is_the_squared_input_gradient_and_trains_d():
    w = torch.tensor([[[[1.0, -2.0], [0.5, 3.0]]]], requires_grad=True)  # D(x) = <w, x>^2 / 2

    def critic(x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (x * w).flatten(1).sum(1).square()

    x = torch.tensor([[[[1.0, 0.0], [2.0, 1.0]]]]).repeat(2, 1, 1, 1)  # <w, x> = 5
    penalty = r1_penalty(critic, x)  # grad_x D = <w, x> w, |.|^2 = 25 * |w|^2 = 25 * 14.25
    assert torch.allclose(penalty, torch.tensor(25 * 14.25))
    (grad_w,) = torch.autograd.grad(penalty, w)  # the graph is kept: the penalty trains D
    assert torch.isfinite(grad_w).all() and grad_w.abs().sum() > 0


def test_lazy_r1_trains_changes_the_model_and_resumes_exactly(tmp_path, small):  # noqa: F811
    common = {"arch": "dcgan", "arch_args": TINY_DCGAN, "batch_size": 32, "precision": "fp32"}
    common = {**common, "lr_decay": 0.0, **FAST}  # constant rates: a 3-step run is a prefix
    r1 = {**common, "r1": 1.0, "r1_every": 2}
    full = train(small, out=tmp_path / "full.safetensors", steps=4, **r1)
    part = tmp_path / "part.safetensors"
    train(small, out=part, steps=3, **r1)  # stops between two R1 steps (0 and 2 of 0..3)
    train(small, out=part, steps=4, resume=True, **r1)
    plain = train(small, out=tmp_path / "plain.safetensors", steps=4, **common)
    a, b, c = _weights(full), _weights(part), _weights(plain)
    assert all(torch.isfinite(v).all() for v in a.values() if v.is_floating_point())
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if k.startswith("d."))
    with pytest.raises(ValueError, match="expected a finite --r1 >= 0 and --r1-every >= 1"):
        train(small, out=tmp_path / "bad.safetensors", steps=1, **{**r1, "r1_every": 0})


def test_cdcgan_cond_dim_shares_every_per_class_table(tmp_path, small):  # noqa: F811
    """With cond_dim > 0 a class owns its code alone: every other weight is shared, so a class's
    rows train the maps all classes use, and changing one class's code moves only that class."""
    torch.manual_seed(0)
    cfg = ModelConfig(
        arch="cdcgan", image_shape=(1, 28, 28), num_classes=10, arch_args={"cond_dim": 4}
    )
    g = create_generator(cfg)
    tables = [n for n, m in g.named_modules() if isinstance(m, torch.nn.Embedding)]
    assert tables == ["code"] and g.code.weight.shape == (10, 4)
    for m in g.modules():  # trained-like maps: untrained ones start every class at gain 1, bias 0
        if type(m).__name__ == "ConditionalBN":
            torch.nn.init.normal_(m.proj.weight, std=0.5)
    z, y = torch.randn(4, cfg.latent_dim), torch.tensor([9, 9, 3, 3])
    g.train()
    g(z[:2], y[:2]).sum().backward()  # class 9's rows only
    assert g.code.weight.grad[9].abs().sum() > 0
    assert g.code.weight.grad[:9].abs().sum() == 0
    assert all(m.proj.weight.grad.abs().sum() > 0 for m in g.modules() if hasattr(m, "proj"))
    g.eval()
    with torch.inference_mode():
        before = g(z, y)
        g.code.weight[9] += 1.0
        after = g(z, y)
    assert not torch.allclose(before[:2], after[:2]) and torch.equal(before[2:], after[2:])
    with pytest.raises(ValueError, match="expected cond_dim >= 0"):
        create_generator(
            ModelConfig(arch="cdcgan", image_shape=(1, 28, 28), arch_args={"cond_dim": -1})
        )
    # trained, written and read back: the file records it, and its draws are finite and repeat
    common = {"arch_args": {"g_width": 8, "d_width": 8, "cond_dim": 3}, "steps": 3, **FAST}
    path = train(small, out=tmp_path / "shared.safetensors", batch_size=32, **common)
    gen = ganaug.load(path)
    assert gen.config.arch_args["cond_dim"] == 3
    a, la = gen.sample(20, labels="balanced", seed=1, output="float")
    b, lb = ganaug.load(path).sample(20, labels="balanced", seed=1, output="float")
    assert torch.isfinite(a).all() and torch.equal(a, b) and torch.equal(la, lb)
