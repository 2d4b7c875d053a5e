"""Generator engine: determinism by index, label specs, output forms, bad input."""

from __future__ import annotations

import pytest
import torch

import ganaug
from ganaug import _rng
from ganaug.sources import resolve_labels

from .conftest import make_model_file


def test_is_a_sample_source(gen, ugen):
    assert gen.image_shape == (1, 28, 28) and gen.num_classes == 10
    assert gen.class_names == [str(k) for k in range(10)]
    assert ugen.num_classes == 0 and ugen.class_names == []


@pytest.mark.parametrize("fixture", ["gen", "ugen"])
def test_same_bytes_for_any_batch_size(fixture, request):
    g = request.getfixturevalue(fixture)
    labels = "balanced" if g.num_classes else None
    ref, ref_y = g.sample(300, labels=labels, seed=5, batch_size=4096, output="float")
    for bs in (1, 7, 64, 100, 257):
        x, y = g.sample(300, labels=labels, seed=5, batch_size=bs, output="float")
        assert torch.equal(x, ref), f"batch_size={bs} changed the images"
        assert torch.equal(y, ref_y)


def test_start_offset_addresses_the_same_samples(gen):
    full, full_y = gen.sample(200, seed=1)
    part, part_y = gen.sample(50, seed=1, start=120)
    assert torch.equal(part, full[120:170]) and torch.equal(part_y, full_y[120:170])


def test_generate_by_arbitrary_indices(gen):
    full, y = gen.sample(128, seed=2, output="float")
    idx = torch.tensor([100, 3, 77, 3])
    x = gen.generate(idx, y[idx], 2)
    assert torch.equal(x, full[idx])


def test_seeds_differ_and_repeat(gen):
    a, _ = gen.sample(16, labels=0, seed=0)
    b, _ = gen.sample(16, labels=0, seed=1)
    c, _ = gen.sample(16, labels=0, seed=0)
    assert not torch.equal(a, b) and torch.equal(a, c)


def test_global_rng_untouched(gen):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    gen.sample(10, seed=3)
    assert torch.equal(before, torch.get_rng_state())


def test_output_forms(gen):
    u8, y = gen.sample(10, labels=3, seed=0)
    f, _ = gen.sample(10, labels=3, seed=0, output="float")
    assert u8.dtype == torch.uint8 and u8.shape == (10, 1, 28, 28)
    assert f.dtype == torch.float32 and f.min() >= -1 and f.max() <= 1
    assert torch.equal(ganaug.to_uint8(f), u8)
    assert y.dtype == torch.int64 and (y == 3).all()


def test_label_specs():
    k = 4
    assert resolve_labels("balanced", 6, num_classes=k).tolist() == [0, 1, 2, 3, 0, 1]
    assert resolve_labels("balanced", 3, num_classes=k, start=2).tolist() == [2, 3, 0]
    assert resolve_labels(2, 3, num_classes=k).tolist() == [2, 2, 2]
    assert resolve_labels([0, 3, 1], 3, num_classes=k).tolist() == [0, 3, 1]
    assert resolve_labels(torch.tensor([1, 1]), 2, num_classes=k).tolist() == [1, 1]
    uni = resolve_labels(None, 4000, num_classes=k, seed=9)
    assert torch.equal(uni, resolve_labels("uniform", 4000, num_classes=k, seed=9))
    counts = torch.bincount(uni, minlength=k)
    assert counts.min() > 900  # uniform, not degenerate
    assert torch.equal(uni[100:200], resolve_labels(None, 100, num_classes=k, seed=9, start=100))
    assert resolve_labels(None, 3, num_classes=0).tolist() == [-1, -1, -1]


@pytest.mark.parametrize(
    ("labels", "n", "match"),
    [
        (10, 4, r"labels must be in \[0, 9\].*found \[10"),
        (-1, 4, r"labels must be in \[0, 9\].*found \[-1"),
        ([0, 1], 4, "expected 4 labels"),
        ("balance", 4, "got the string 'balance'"),
        (torch.tensor([0.5, 1.0]), 2, "expected integer class labels"),
        (None, 0, "expected n > 0"),
        (None, -3, "expected n > 0"),
    ],
)
def test_bad_labels_and_n(gen, labels, n, match):
    with pytest.raises(ValueError, match=match):
        gen.sample(n, labels=labels)


@pytest.mark.parametrize("labels", [0, "balanced", [0, 1]])
def test_labels_for_unconditional_model(ugen, labels):
    with pytest.raises(ValueError, match="this model is unconditional"):
        ugen.sample(2, labels=labels)


def test_bad_output_and_batch_size(gen):
    with pytest.raises(ValueError, match="expected output 'uint8' or 'float', got 'png'"):
        gen.sample(2, output="png")
    with pytest.raises(ValueError, match="expected batch_size > 0"):
        gen.sample(2, batch_size=0)


def test_rng_streams_are_independent_and_index_addressed():
    idx = torch.arange(50_000)
    z = _rng.normal(idx, 0, 8)
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert torch.equal(_rng.normal(idx[777:780], 0, 8), z[777:780])
    other = _rng.normal(idx, 1, 8)
    assert abs(torch.corrcoef(torch.stack([z[:, 0], other[:, 0]]))[0, 1]) < 0.02
    big = torch.tensor([2**40 + 5, 5])
    assert not torch.equal(*_rng.normal(big, 0, 4))  # high index bits matter


def test_other_shapes_sample(tmp_path):
    path = make_model_file(tmp_path / "rgb.safetensors", image_shape=(3, 20, 20), num_classes=0)
    x, y = ganaug.load(path).sample(5, seed=0)
    assert x.shape == (5, 3, 20, 20) and (y == -1).all()
