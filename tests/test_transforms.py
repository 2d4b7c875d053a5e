"""SyntheticReplace (torchvision v2) and the albumentations adapter: transform contract tests."""

from __future__ import annotations

import pickle

import albumentations as A  # the 'albumentations' extra, part of the 'test' extra
import numpy as np
import PIL.Image
import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from ganaug.augment import SyntheticReplace


@pytest.fixture(scope="module")
def batch(fmnist_test):
    return fmnist_test.data[:32, None].clone(), fmnist_test.targets[:32].clone()  # uint8


def test_single_pil_sample_in_compose(fmnist_test, gen):
    img, label = fmnist_test[0]
    t = v2.Compose([SyntheticReplace(gen, p=1.0, seed=0), v2.PILToTensor()])
    out, out_label = t(img, label)
    assert out_label == label and out.dtype == torch.uint8 and out.shape == (1, 28, 28)
    assert not torch.equal(out, v2.functional.pil_to_tensor(img))
    pil, _ = SyntheticReplace(gen, p=1.0)(img, label)
    assert isinstance(pil, PIL.Image.Image) and pil.mode == "L" and pil.size == img.size
    assert torch.equal(v2.functional.pil_to_tensor(pil), out)  # same seed, same bytes
    same, _ = SyntheticReplace(gen, p=0.0)(img, label)
    assert same is img


def test_dtype_kept_and_input_untouched(batch, gen):
    x, y = batch
    for xin in (x, x.float() / 255, (x.float() / 255).to(torch.bfloat16), tv_tensors.Image(x)):
        keep = xin.clone()
        out, yout = SyntheticReplace(gen, p=0.5, seed=1)(xin, y)
        assert torch.equal(xin, keep) and out.dtype == xin.dtype and type(out) is type(xin)
        assert out.shape == xin.shape and out.device == xin.device and yout is y
        changed = (out.float() != xin.float()).flatten(1).any(1)
        assert 0 < int(changed.sum()) < 32
        if xin.dtype.is_floating_point:
            assert float(out.min()) >= 0 and float(out.max()) <= 1  # [0, 1] convention


def test_batched_equals_one_by_one_and_seeded(batch, gen):
    x, y = batch
    whole, _ = SyntheticReplace(gen, p=0.4, seed=9)(x, y)
    t = SyntheticReplace(gen, p=0.4, seed=9)
    rows = [t(x[i], y[i])[0] for i in range(32)]
    assert torch.equal(whole, torch.stack(rows))
    again, _ = SyntheticReplace(gen, p=0.4, seed=9)(x, y)
    other, _ = SyntheticReplace(gen, p=0.4, seed=10)(x, y)
    assert torch.equal(whole, again) and not torch.equal(whole, other)


def test_synthetic_row_depends_on_its_class(batch, gen):
    x, y = batch
    a, _ = SyntheticReplace(gen, p=1.0)(x[:1], torch.tensor([2]))
    b, _ = SyntheticReplace(gen, p=1.0)(x[:1], torch.tensor([7]))
    c, _ = SyntheticReplace(gen, p=1.0)(x[:1], torch.tensor([7]))
    assert not torch.equal(a, b) and torch.equal(b, c)


def test_soft_labels_and_empty_batch(batch, gen):
    x, y = batch
    soft = torch.nn.functional.one_hot(y, 10).float()
    hard_out, _ = SyntheticReplace(gen, p=0.5, seed=4)(x, y)
    soft_out, soft_y = SyntheticReplace(gen, p=0.5, seed=4)(x, soft)
    assert torch.equal(hard_out, soft_out) and soft_y is soft
    empty = x[:0]
    out, yout = SyntheticReplace(gen, p=1.0)(empty, y[:0])
    assert out.shape == (0, 1, 28, 28) and yout.shape == (0,)


def test_pickles_and_continues_the_same_stream(batch, gen):
    x, y = batch
    t = SyntheticReplace(gen, p=0.5, seed=2)
    t(x[:8], y[:8])
    back = pickle.loads(pickle.dumps(t))
    assert torch.equal(t(x, y)[0], back(x, y)[0])
    assert "p=0.5, seed=2" in repr(back)


def test_unconditional_source_needs_no_label(fmnist_test, ugen):
    img, _ = fmnist_test[0]
    out = SyntheticReplace(ugen, p=1.0)(img)
    assert isinstance(out, PIL.Image.Image) and out.size == (28, 28)


def test_bad_input(batch, gen, fmnist_test):
    x, y = batch
    with pytest.raises(ValueError, match=r"p in \[0, 1\]"):
        SyntheticReplace(gen, p=1.5)
    with pytest.raises(ValueError, match="call the transform with \\(image, label\\)"):
        SyntheticReplace(gen, p=0.1)(fmnist_test[0][0])
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\).*\(4, 3, 28, 28\)"):
        SyntheticReplace(gen)(torch.zeros(4, 3, 28, 28, dtype=torch.uint8), y[:4])
    with pytest.raises(ValueError, match=r"shape \(1, 28, 28\).*\(1, 32, 32\)"):
        SyntheticReplace(gen)(torch.zeros(1, 32, 32, dtype=torch.uint8), 3)
    with pytest.raises(ValueError, match="10 columns.*got 7"):
        SyntheticReplace(gen)(x, torch.zeros(32, 7))
    with pytest.raises(ValueError, match=r"labels of shape \(32,\)"):
        SyntheticReplace(gen)(x, y[:5])


# ---- albumentations adapter --------------------------------------------------------------


def test_albumentations_hwc_pipeline(fmnist_test, gen):
    from ganaug.augment.albu import SyntheticReplace as AlbuReplace

    img = fmnist_test.data[0].numpy()[..., None]  # (28, 28, 1) uint8
    keep = img.copy()
    pipe = A.Compose([AlbuReplace(gen, p=1.0), A.HorizontalFlip(p=0.0)], seed=3)
    out = pipe(image=img, label=4)
    assert np.array_equal(img, keep) and out["label"] == 4
    assert out["image"].shape == (28, 28, 1) and out["image"].dtype == np.uint8
    assert not np.array_equal(out["image"], img)
    again = A.Compose([AlbuReplace(gen, p=1.0)], seed=3)(image=img, label=4)["image"]
    assert np.array_equal(out["image"], again)  # seeded: same bytes
    flt = pipe(image=img.astype(np.float32) / 255, label=4)["image"]
    assert flt.dtype == np.float32 and 0 <= flt.min() and flt.max() <= 1
    skipped = A.Compose([AlbuReplace(gen, p=0.0)], seed=3)(image=img, label=4)["image"]
    assert np.array_equal(skipped, img)
    two_d = A.Compose([AlbuReplace(gen, p=1.0)])(image=img[..., 0], label=1)["image"]
    assert two_d.shape == (28, 28)


def test_albumentations_serialisation_and_pickle(fmnist_test, gen):
    from ganaug.augment.albu import SyntheticReplace as AlbuReplace

    t = AlbuReplace(gen, p=1.0, name="gan")
    pipe = A.Compose([t, A.HorizontalFlip(p=0.5)], seed=0)
    d = A.to_dict(pipe)
    assert d["transform"]["transforms"][0]["__name__"] == "gan"
    restored = A.from_dict(d, nonserializable={"gan": t})
    assert restored.transforms[0] is t
    with pytest.raises(ValueError, match="non-serializable transform with name gan"):
        A.from_dict(d)
    with pytest.raises(NotImplementedError, match="SampleSource"):
        A.to_dict(A.Compose([AlbuReplace(gen, name=None)]))
    img = fmnist_test.data[1].numpy()[..., None]
    back = pickle.loads(pickle.dumps(pipe))
    assert np.array_equal(back(image=img, label=2)["image"], pipe(image=img, label=2)["image"])


def test_albumentations_bad_input(gen):
    from ganaug.augment.albu import SyntheticReplace as AlbuReplace

    pipe = A.Compose([AlbuReplace(gen, p=1.0)])
    img = np.zeros((28, 28, 1), np.uint8)
    with pytest.raises(ValueError, match="requires \\['label'\\]"):
        pipe(image=img)
    with pytest.raises(ValueError, match=r"\(28, 28, 1\).*\(32, 32, 3\)"):
        pipe(image=np.zeros((32, 32, 3), np.uint8), label=1)
    with pytest.raises(ValueError, match="integer class label"):
        pipe(image=img, label=1.5)
