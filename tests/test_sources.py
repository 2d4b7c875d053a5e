"""The SampleSource contract, swept over every implementation: Generator, H5Dataset and
FilteredSource behave the same way wherever a consumer takes "a source"."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import ganaug
from ganaug._images import to_float, to_uint8
from ganaug.sources import LiveSource, SampleSource


@pytest.fixture(scope="module")
def h5(gen, tmp_path_factory) -> ganaug.H5Dataset:
    path = tmp_path_factory.mktemp("h5") / "s.h5"
    ganaug.export(gen, path, 200, seed=3, device="cpu", progress=False)
    return ganaug.H5Dataset(path)


@pytest.fixture(scope="module")
def filtered(gen) -> ganaug.FilteredSource:
    return ganaug.FilteredSource(gen, method="drs", threshold=0.5, burn_in=256)


@pytest.fixture(params=["generator", "unconditional", "h5", "filtered"])
def source(request, gen, ugen, h5, filtered) -> SampleSource:
    return {"generator": gen, "unconditional": ugen, "h5": h5, "filtered": filtered}[request.param]


def _labels(src: SampleSource) -> str | None:
    return "balanced" if src.num_classes else None


def test_satisfies_the_protocol(source):
    assert isinstance(source, SampleSource)
    assert len(source.image_shape) == 3 and source.image_shape[0] in (1, 3)
    assert len(source.class_names) == source.num_classes
    assert not isinstance(object(), SampleSource)


def test_live_sources_can_be_filtered(gen, h5, filtered):
    assert isinstance(gen, LiveSource) and isinstance(filtered, LiveSource)
    assert not isinstance(h5, LiveSource)
    with pytest.raises(ValueError, match="needs a live generator"):
        ganaug.FilteredSource(h5, method="drs")


def test_shapes_dtypes_and_labels(source):
    x, y = source.sample(10, labels=_labels(source), seed=1)
    assert x.shape == (10, *source.image_shape) and x.dtype == torch.uint8
    assert y.shape == (10,) and y.dtype == torch.int64
    if source.num_classes:
        assert y.tolist() == [i % source.num_classes for i in range(10)]
    else:
        assert (y == -1).all()
    f, _ = source.sample(10, labels=_labels(source), seed=1, output="float")
    assert f.dtype == torch.float32 and f.min() >= -1 and f.max() <= 1
    assert torch.equal(to_uint8(f), x)  # the float rows round to the uint8 rows


def test_same_bytes_by_index_for_any_batch_size_and_start(source):
    labels = _labels(source)
    ref, ref_y = source.sample(70, labels=labels, seed=7, output="float")
    for bs in (1, 13, 64, 512):
        x, y = source.sample(70, labels=labels, seed=7, batch_size=bs, output="float")
        assert torch.equal(x, ref) and torch.equal(y, ref_y), f"batch_size={bs}"
    tail, _ = source.sample(20, labels=labels, seed=7, start=50, output="float")
    if source.num_classes:  # "balanced" is index mod K from the absolute index
        assert torch.equal(tail, ref[50:])
    other, _ = source.sample(70, labels=labels, seed=8, output="float")
    assert not torch.equal(other, ref)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0}, "expected n > 0"),
        ({"n": -3}, "expected n > 0"),
        ({"n": 4, "output": "png"}, "expected output 'uint8' or 'float'"),
        ({"n": 4, "batch_size": 0}, "expected batch_size > 0"),
    ],
)
def test_bad_arguments(source, kwargs, match):
    with pytest.raises(ValueError, match=match):
        source.sample(**kwargs)


def test_bad_labels(source):
    if source.num_classes:
        with pytest.raises(ValueError, match="labels must be in"):
            source.sample(2, labels=[0, 99])
    else:
        with pytest.raises(ValueError, match="unconditional"):
            source.sample(2, labels="balanced")


def test_float_images_use_one_formula_everywhere(h5):
    x, _ = h5.sample(8, labels="balanced", seed=0)
    f, _ = h5.sample(8, labels="balanced", seed=0, output="float")
    assert torch.equal(f, to_float(x))
    assert torch.equal(to_float(x), x.float() / 127.5 - 1.0)


def test_the_same_call_shape_for_every_batch(ugen, monkeypatch):
    """Every generator call gets the same number of rows, whatever the request (the fix for
    float results that changed with the batch size on some CPUs and thread counts)."""
    shapes = []
    module = ugen.module("cpu")
    original = module.forward

    def spy(z, y=None):
        shapes.append(tuple(z.shape))
        return original(z, y)

    monkeypatch.setattr(module, "forward", spy)
    for n, bs in ((1, None), (300, 7), (65, 4096)):
        ugen.sample(n, seed=0, batch_size=bs)
    assert len(set(shapes)) == 1, shapes


def test_model_file_path_loads_as_a_source(cond_model_path: Path):
    src = ganaug.load(cond_model_path)
    assert isinstance(src, SampleSource) and src.sha256
