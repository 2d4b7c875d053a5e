"""Data sources: names, image folders, HDF5/NPZ arrays, Datasets; resizing; bad input."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

import ganaug
from ganaug.data import ImageData, fingerprint, load_dataset


@pytest.fixture(scope="module")
def real(fmnist_test):
    """120 real test images (12 per class for classes 0..9), uint8 (N, 28, 28) and labels."""
    y = fmnist_test.targets.numpy()
    idx = np.concatenate([np.flatnonzero(y == k)[:12] for k in range(10)])
    return fmnist_test.data.numpy()[idx], y[idx]


def test_named_fashion_mnist_both_splits(data_root, fmnist_train):
    tr = load_dataset("fashion-mnist", root=data_root)
    te = load_dataset("fashion-mnist:test", root=data_root)
    assert tr.images.shape == (60000, 1, 28, 28) and tr.images.dtype == torch.uint8
    assert te.images.shape == (10000, 1, 28, 28) and tr.num_classes == 10
    assert tr.class_names == list(fmnist_train.classes)
    assert torch.equal(tr.images[:5, 0], fmnist_train.data[:5])
    assert tr.fingerprint() == fingerprint(tr.images, tr.labels) != te.fingerprint()


def test_named_mnist_without_files_says_where(tmp_path):
    with pytest.raises(FileNotFoundError, match="MNIST is not under .*MNIST/raw"):
        load_dataset("mnist", root=tmp_path)
    with pytest.raises(ValueError, match="fashion-mnist:test"):
        load_dataset("fashion-mnist:valid", root=tmp_path)


def _write_folder(root: Path, images, labels, names, mode="L") -> Path:
    for i, (im, k) in enumerate(zip(images, labels, strict=True)):
        d = root / names[k]
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).convert(mode).save(d / f"{i:04d}.png")
    return root


def test_image_folder_has_imagefolder_semantics(tmp_path, real):
    from torchvision.datasets import ImageFolder

    x, y = real
    names = [f"class_{k}" for k in range(10)]
    root = _write_folder(tmp_path / "imgs", x, y, names)
    data = load_dataset(root)
    ref = ImageFolder(str(root))
    assert data.class_names == ref.classes == names
    assert data.labels.tolist() == [t for _, t in ref.samples]
    assert data.images.shape == (120, 1, 28, 28)
    order = [int(Path(p).stem) for p, _ in ref.samples]
    assert np.array_equal(data.images[:, 0].numpy(), x[order])  # PNG is lossless
    rgb = load_dataset(_write_folder(tmp_path / "rgb", x[:20], y[:20], names, mode="RGB"))
    assert rgb.images.shape == (20, 3, 28, 28)


@pytest.mark.parametrize("layout", ["NHW", "NHWC"])
def test_h5_and_npz_arrays(tmp_path, real, layout):
    x, y = real
    arr = x if layout == "NHW" else np.repeat(x[..., None], 3, axis=3)
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["images"], f["labels"] = arr, y
        f.attrs["class_names"] = [f"c{k}" for k in range(10)]
    np.savez(tmp_path / "d.npz", images=arr, labels=y)
    a, b = load_dataset(tmp_path / "d.h5"), load_dataset(str(tmp_path / "d.npz"))
    c = 1 if layout == "NHW" else 3
    assert a.images.shape == b.images.shape == (120, c, 28, 28)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, torch.as_tensor(y))
    assert a.class_names[0] == "c0" and b.class_names == [str(k) for k in range(10)]
    assert np.array_equal(a.images[:, 0].numpy(), x)


def test_unlabelled_npz_is_unconditional(tmp_path, real):
    np.savez(tmp_path / "u.npz", images=real[0])
    data = load_dataset(tmp_path / "u.npz")
    assert data.labels is None and data.num_classes == 0 and data.class_names == []


def test_any_dataset_of_pil_or_tensor_items(fmnist_test, real):
    from torchvision.transforms import v2

    pil = torch.utils.data.Subset(fmnist_test, range(30))  # (PIL image, int)
    data = load_dataset(pil)
    assert data.images.shape == (30, 1, 28, 28)
    assert torch.equal(data.images[:, 0], fmnist_test.data[:30])
    as_float = [
        (v2.functional.to_dtype(v2.functional.pil_to_tensor(im), torch.float32, scale=True), int(t))
        for im, t in pil
    ]
    data2 = load_dataset(as_float)
    assert torch.equal(data2.images, data.images) and torch.equal(data2.labels, data.labels)


def test_image_size_resizes_every_source(tmp_path, real):
    x, y = real
    np.savez(tmp_path / "d.npz", images=x, labels=y)
    data = load_dataset(tmp_path / "d.npz", image_size=16)
    assert data.images.shape == (120, 1, 16, 16) and data.images.dtype == torch.uint8
    data = load_dataset(tmp_path / "d.npz", image_size=(20, 24))
    assert data.images.shape == (120, 1, 20, 24)


# --- bad input --------------------------------------------------------------------------------


def test_empty_data_is_refused(tmp_path):
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match="one sub-folder per class .*no valid file"):
        load_dataset(tmp_path / "empty")
    (tmp_path / "flat").mkdir()
    with pytest.raises(ValueError, match="one sub-folder per class"):
        load_dataset(tmp_path / "flat")
    np.savez(tmp_path / "e.npz", images=np.zeros((0, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="at least one image, found 0"):
        load_dataset(tmp_path / "e.npz")
    with pytest.raises(ValueError, match="at least one image"):
        load_dataset([])


def test_unreadable_data_is_refused(tmp_path, real):
    (tmp_path / "bad.h5").write_bytes(b"not an hdf5 file at all")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        load_dataset(tmp_path / "bad.h5")
    (tmp_path / "bad.npz").write_bytes(b"PK garbage")
    with pytest.raises(ValueError, match="not a readable .npz file"):
        load_dataset(tmp_path / "bad.npz")
    folder = _write_folder(tmp_path / "f", real[0][:3], real[1][:3], ["a"] * 10)
    (folder / "a" / "broken.png").write_bytes(b"\x89PNG truncated")
    with pytest.raises(ValueError, match="broken.png: not a readable image"):
        load_dataset(folder)
    with pytest.raises(FileNotFoundError, match="no data at"):
        load_dataset(tmp_path / "missing")
    with pytest.raises(ValueError, match="expected a dataset 'images'"):
        with h5py.File(tmp_path / "x.h5", "w") as f:
            f["pixels"] = real[0]
        load_dataset(tmp_path / "x.h5")


def test_mixed_sizes_need_image_size(tmp_path, real):
    x, y = real
    root = _write_folder(tmp_path / "mixed", x[:6], np.zeros(6, int), ["a"])
    Image.fromarray(x[0]).resize((32, 32)).save(root / "a" / "big.png")
    with pytest.raises(ValueError, match=r"one size, found 2 sizes.*--image-size"):
        load_dataset(root)
    data = load_dataset(root, image_size=28)
    assert data.images.shape == (7, 1, 28, 28)


@pytest.mark.parametrize(
    "labels, match",
    [
        (lambda y: y - 1, r"labels 0..K-1 .*\[-1, 8\]"),
        (lambda y: np.where(y == 3, 11, y), r"classes \[3, 10\] absent"),
        (lambda y: y + 0.5, "integer class labels"),
        (lambda y: y.astype(str), "integer class labels"),
    ],
)
def test_labels_must_be_integers_0_to_k_minus_1(tmp_path, real, labels, match):
    x, y = real
    np.savez(tmp_path / "d.npz", images=x, labels=labels(y))
    with pytest.raises(ValueError, match=match):
        load_dataset(tmp_path / "d.npz")


def test_labels_beyond_class_names_are_refused(real):
    x, y = real
    data = ImageData(torch.as_tensor(x)[:, None], torch.as_tensor(y), ["a", "b"], "mine")
    with pytest.raises(ValueError, match=r"0..K-1 \(2 classes\)"):
        load_dataset(data)


def test_digits_is_a_second_real_data_set_that_trains(tmp_path):
    from ganaug.training import train

    data = load_dataset("digits")
    test = load_dataset("digits:test")
    assert data.images.shape == (1500, 1, 8, 8) and data.images.dtype == torch.uint8
    assert len(test) == 297 and data.num_classes == 10 and data.class_names[3] == "3"
    assert int(data.images.max()) == 255 and set(data.labels.tolist()) == set(range(10))
    assert fingerprint(data.images, data.labels) != fingerprint(test.images, test.labels)
    out = train(
        "digits",
        out=tmp_path / "d.safetensors",
        arch_args={"g_width": 8, "d_width": 8},  # the default arch (cdcgan), narrow
        steps=3,
        batch_size=32,
        log_every=1,
        sample_every=0,
        checkpoint_every=0,
        progress=False,
    )
    gen = ganaug.load(out)
    assert gen.image_shape == (1, 8, 8) and gen.provenance["data_source"] == "digits"
