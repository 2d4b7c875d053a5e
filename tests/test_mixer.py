"""SyntheticMixer and mix(): batch-level mixing contract tests on real Fashion-MNIST batches."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset
from torchvision.transforms import v2

from ganaug.augment import SyntheticMixer, mix

MEAN, STD = (0.2860,), (0.3530,)


@pytest.fixture(scope="module")
def batch(fmnist_test):
    return fmnist_test.data[:40, None].clone(), fmnist_test.targets[:40].clone()  # uint8


def normalized(x):
    return (x.float() / 255 - MEAN[0]) / STD[0]


def test_append_one_call_normalised_like_real_rows(batch, gen):
    x, y = batch
    xf = normalized(x)
    keep_x, keep_y = xf.clone(), y.clone()
    mixer = SyntheticMixer(gen, ratio=0.25, normalize=(MEAN, STD), seed=3)
    xo, yo, syn = mixer(xf, y)
    assert torch.equal(xf, keep_x) and torch.equal(y, keep_y)  # inputs untouched
    assert xo.shape == (50, 1, 28, 28) and yo.shape == (50,) and xo.dtype == torch.float32
    assert syn.tolist() == [False] * 40 + [True] * 10 and torch.equal(xo[:40], xf)
    assert set(yo[40:].tolist()) <= set(y.tolist())  # labels="match": classes of real rows
    want, _ = gen.sample(10, labels=yo[40:], seed=3, start=0, output="float")
    assert torch.allclose(xo[40:], ((want + 1) / 2 - MEAN[0]) / STD[0], atol=1e-6)


def test_replace_keeps_classes_and_the_other_rows(batch, gen):
    x, y = batch
    xo, yo, syn = SyntheticMixer(gen, ratio=0.5, mode="replace")(x, y)
    assert xo.dtype == torch.uint8 and xo.shape == x.shape and int(syn.sum()) == 20
    assert torch.equal(xo[~syn], x[~syn]) and torch.equal(yo, y)
    assert (xo[syn] != x[syn]).flatten(1).any(1).all()


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.bfloat16])
def test_dtype_and_device_kept(batch, gen, dtype):
    x, y = batch
    xin = x if dtype == torch.uint8 else (x.float() / 255).to(dtype)
    xo, yo, syn = SyntheticMixer(gen, ratio=0.5)(xin, y)
    assert xo.dtype == dtype and xo.device == xin.device and yo.dtype == y.dtype
    assert syn.dtype == torch.bool and syn.device == xin.device


def test_soft_labels_from_mixup_get_one_hot_rows(batch, gen):
    x, y = batch
    xm, ym = v2.MixUp(num_classes=10)(x.float() / 255, y)
    xo, yo, syn = SyntheticMixer(gen, ratio=0.5, labels="balanced")(xm, ym)
    assert yo.shape == (60, 10) and torch.equal(yo[:40], ym)
    assert torch.equal(yo[40:], torch.eye(10)[torch.arange(20) % 10])
    xr, yr, synr = SyntheticMixer(gen, ratio=0.5, mode="replace")(xm, ym)
    assert torch.equal(yr[~synr], ym[~synr])
    assert torch.equal(yr[synr], torch.eye(10)[ym[synr].argmax(1)])  # "match": argmax class


def test_label_modes_and_seeding(batch, gen):
    x, y = batch
    _, yb, _ = SyntheticMixer(gen, ratio=0.5, labels="balanced")(x, y)
    assert yb[40:].tolist() == [k % 10 for k in range(20)]
    a = SyntheticMixer(gen, ratio=0.5, labels="uniform", seed=1)(x, y)
    b = SyntheticMixer(gen, ratio=0.5, labels="uniform", seed=1)(x, y)
    c = SyntheticMixer(gen, ratio=0.5, labels="uniform", seed=2)(x, y)
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
    assert not torch.equal(a[0], c[0])


def test_state_dict_resumes_the_stream_and_pickles(batch, gen):
    x, y = batch
    m = SyntheticMixer(gen, ratio=0.25, mode="replace", seed=5)
    m(x, y)
    resumed = SyntheticMixer(gen, ratio=0.25, mode="replace", seed=5)
    resumed.load_state_dict(m.state_dict())
    copied = pickle.loads(pickle.dumps(m))
    want = m(x, y)
    for other in (resumed, copied):
        assert all(torch.equal(p, q) for p, q in zip(want, other(x, y), strict=True))


def test_empty_batch_and_zero_ratio(batch, gen):
    x, y = batch
    xo, yo, syn = SyntheticMixer(gen, ratio=0.5)(x[:0], y[:0])
    assert xo.shape == (0, 1, 28, 28) and yo.shape == (0,) and syn.shape == (0,)
    xo, yo, syn = SyntheticMixer(gen, ratio=0.0)(x, y)
    assert torch.equal(xo, x) and not syn.any()


def test_unconditional_rows_get_label_minus_one(batch, ugen):
    x, y = batch
    xo, yo, syn = SyntheticMixer(ugen, ratio=0.1)(x, y)
    assert yo[syn].tolist() == [-1] * 4 and xo.shape == (44, 1, 28, 28)


def test_mix_wraps_a_dataloader_on_cpu(batch, gen):
    x, y = batch
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    out = list(mix(loader, gen, device="cpu", ratio=0.5, seed=4, return_mask=True))
    assert len(out) == len(mix(loader, gen, device="cpu")) == 3
    mixer = SyntheticMixer(gen, ratio=0.5, seed=4)
    for (xb, yb), got in zip(loader, out, strict=True):
        assert all(torch.equal(p, q) for p, q in zip(mixer(xb, yb), got, strict=True))
    plain = list(mix(loader, gen, device="cpu", ratio=0.5, seed=4))  # (x, y): drop-in
    assert all(len(b) == 2 for b in plain)
    for (xp, yp), (xm, ym, _) in zip(plain, out, strict=True):
        assert torch.equal(xp, xm) and torch.equal(yp, ym)
    with pytest.raises(ValueError, match="batches \\(x, y\\)"):
        next(iter(mix([x], gen, device="cpu")))


def test_an_unchanged_training_loop_trains_with_mix(data_root, gen):
    from ganaug.data import fashion_mnist

    to_tensor = v2.Compose([v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True)])
    real = fashion_mnist(data_root, train=True, transform=to_tensor)
    real = torch.utils.data.Subset(real, range(512))
    loader = DataLoader(
        real, batch_size=64, shuffle=True, num_workers=2, generator=torch.Generator().manual_seed(0)
    )
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    losses, rows = [], 0
    for _ in range(3):
        for data, target in mix(loader, gen, device="cpu", ratio=0.25):  # as in pytorch/examples
            loss = torch.nn.functional.cross_entropy(model(data), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            rows += len(target)
    assert rows == 3 * 8 * (64 + 16)  # 8 batches of 64 real + 16 synthetic rows, 3 epochs
    assert sum(losses[-8:]) < 0.7 * sum(losses[:8]), losses


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the prefetch path needs CUDA")
def test_mix_cuda_prefetch_equals_no_prefetch(batch, gen):
    x, y = batch
    loader = DataLoader(TensorDataset(normalized(x), y), batch_size=16, pin_memory=True)
    kw = dict(device="cuda", ratio=0.5, normalize=(MEAN, STD), seed=1)
    fast = list(mix(loader, gen, prefetch=True, return_mask=True, **kw))
    slow = list(mix(loader, gen, prefetch=False, return_mask=True, **kw))
    for a, b in zip(fast, slow, strict=True):
        assert all(p.is_cuda and torch.equal(p, q) for p, q in zip(a, b, strict=True))


def test_bad_input(batch, gen, ugen):
    x, y = batch
    with pytest.raises(ValueError, match="ratio >= 0, got -0.1"):
        SyntheticMixer(gen, ratio=-0.1)
    with pytest.raises(ValueError, match=r"ratio in \[0, 1\] for mode='replace', got 1.5"):
        SyntheticMixer(gen, ratio=1.5, mode="replace")
    with pytest.raises(ValueError, match="unconditional"):
        SyntheticMixer(ugen, labels="balanced")
    with pytest.raises(ValueError, match="mode one of"):
        SyntheticMixer(gen, mode="mix")
    with pytest.raises(ValueError, match="normalize mean of length 1 or 1"):
        SyntheticMixer(gen, normalize=((0.5, 0.5, 0.5), (0.2,)))
    m = SyntheticMixer(gen)
    with pytest.raises(ValueError, match=r"shape \(B, C, H, W\), got shape \(40, 28, 28\)"):
        m(x[:, 0], y)
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\), got \(40, 3, 28, 28\)"):
        m(x.expand(-1, 3, -1, -1), y)
    with pytest.raises(ValueError, match=r"labels of shape \(40,\) or \(40, num_classes\)"):
        m(x, y[:7])
    with pytest.raises(ValueError, match="10 columns.*got 4"):
        m(x.float(), torch.zeros(40, 4))
    with pytest.raises(ValueError, match="normalize was given but the batch is torch.uint8"):
        SyntheticMixer(gen, normalize=(MEAN, STD))(x, y)
