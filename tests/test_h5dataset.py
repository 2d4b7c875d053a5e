"""``H5Dataset``: torchvision-style items, DataLoader workers, SampleSource, validation."""

from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

import ganaug

N = 200


@pytest.fixture(scope="module")
def exported(tmp_path_factory, cond_model_path):
    path = tmp_path_factory.mktemp("h5") / "synthetic.h5"
    gen = ganaug.load(cond_model_path)
    # classes 0..4 only, so "a class the file lacks" can be tested
    ganaug.export(
        gen,
        path,
        N,
        labels={c: N // 5 for c in range(5)},
        seed=11,
        batch_size=64,
        device="cpu",
        progress=False,
    )
    with h5py.File(path, "r") as f:
        images, labels = f["images"][:], f["labels"][:]
    return path, images, labels


def test_items_in_torchvision_forms(exported):
    path, images, labels = exported
    ds = ganaug.H5Dataset(path)
    assert len(ds) == N and ds.image_shape == (1, 28, 28) and ds.num_classes == 10
    assert ds.classes == ds.class_names == [str(k) for k in range(10)]
    assert torch.equal(ds.targets, torch.from_numpy(labels))
    img, target = ds[7]
    assert isinstance(img, Image.Image) and img.mode == "L" and img.size == (28, 28)
    assert np.array_equal(np.asarray(img), images[7, :, :, 0]) and target == labels[7]
    assert isinstance(target, int)
    t, _ = ganaug.H5Dataset(path, output="tensor")[-1]
    assert t.dtype == torch.uint8 and t.shape == (1, 28, 28)
    assert torch.equal(t, torch.from_numpy(images[-1]).permute(2, 0, 1))
    a, _ = ganaug.H5Dataset(path, output="numpy")[3]
    assert a.shape == (28, 28, 1) and np.array_equal(a, images[3])
    tf = ganaug.H5Dataset(
        path, transform=lambda im: np.asarray(im).sum(), target_transform=lambda y: y + 100
    )
    s, y = tf[5]
    assert s == int(images[5].astype(np.int64).sum()) and y == labels[5] + 100
    joint = ganaug.H5Dataset(path, output="numpy", transforms=lambda im, y: (im.shape, -y))
    assert joint[9] == ((28, 28, 1), -labels[9])
    with pytest.raises(IndexError):
        ds[N]
    with pytest.raises(ValueError, match="expected output"):
        ganaug.H5Dataset(path, output="jpeg")


def test_getitems_batched_equals_one_by_one(exported):
    path, images, labels = exported
    idx = [150, 3, 3, 77, 0, 199, 64, 63]
    for cache in (0, 1 << 30):  # chunk-by-chunk reads and the in-memory copy
        ds = ganaug.H5Dataset(path, output="tensor", cache_bytes=cache)
        batch = ds.__getitems__(idx)
        single = [ds[i] for i in idx]
        for (bi, by), (si, sy), i in zip(batch, single, idx, strict=True):
            assert torch.equal(bi, si) and by == sy == labels[i]
        assert np.array_equal(ds.read(idx), images[idx])
        assert ds.__getitems__([]) == []


def test_dataloader_two_workers_and_pickle(exported):
    path, images, labels = exported
    ds = ganaug.H5Dataset(path, output="tensor")
    ds[0]  # the parent now holds an open handle: workers must open their own
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._file is None and torch.equal(clone[5][0], ds[5][0])
    torch.manual_seed(0)
    loader = DataLoader(ds, batch_size=32, shuffle=True, num_workers=2)
    xs, ys = zip(*loader, strict=True)
    x, y = torch.cat(xs), torch.cat(ys)
    assert x.shape == (N, 1, 28, 28) and y.dtype == torch.int64
    order = torch.from_numpy(images).permute(0, 3, 1, 2).reshape(N, -1)
    # every stored row comes back exactly once, with its own label
    got = {bytes(r.numpy()): int(t) for r, t in zip(x.reshape(N, -1), y, strict=True)}
    want = {bytes(r.numpy()): int(t) for r, t in zip(order, labels, strict=True)}
    assert got == want
    ds.close()


def test_sample_is_deterministic_by_index_and_honours_labels(exported):
    path, images, labels = exported
    ds = ganaug.H5Dataset(path)
    x, y = ds.sample(40, labels=[0, 1, 2, 3, 4] * 8, seed=5)
    assert x.shape == (40, 1, 28, 28) and x.dtype == torch.uint8
    assert y.tolist() == [0, 1, 2, 3, 4] * 8
    # each returned image is a stored row of the requested class
    rows = {bytes(r): int(t) for r, t in zip(images.transpose(0, 3, 1, 2), labels, strict=True)}
    assert all(rows[bytes(im.numpy())] == int(t) for im, t in zip(x, y, strict=True))
    x2a, _ = ds.sample(25, labels=[0, 1, 2, 3, 4] * 5, seed=5)
    x2b, _ = ds.sample(15, labels=[0, 1, 2, 3, 4] * 3, seed=5, start=25)
    assert torch.equal(torch.cat([x2a, x2b]), x)  # sample i depends on (seed, i) only
    assert not torch.equal(ds.sample(40, labels=[0, 1, 2, 3, 4] * 8, seed=6)[0], x)
    anyrow, y_any = ds.sample(30, seed=1)
    assert set(y_any.tolist()) <= set(range(5))
    f, _ = ds.sample(30, seed=1, output="float")
    assert torch.allclose(f, anyrow.float() / 127.5 - 1)
    xc, yc = ds.sample(10, labels=2, seed=0)
    assert (yc == 2).all()
    with pytest.raises(ValueError, match="holds no rows of class 7"):
        ds.sample(10, labels=7, seed=0)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 9\]"):
        ds.sample(2, labels=[0, 12])
    with pytest.raises(ValueError, match="expected n > 0"):
        ds.sample(0)


def test_as_source_for_ganaugmented_and_reexport(exported, tmp_path):
    path, images, labels = exported
    ds = ganaug.H5Dataset(path)
    real = torch.utils.data.TensorDataset(
        torch.zeros(10, 1, 28, 28, dtype=torch.uint8), torch.arange(10) % 5
    )
    aug = ganaug.GANAugmented(real, ds, n_synthetic=20, labels="match", seed=3)
    stored = {bytes(r) for r in images.transpose(0, 3, 1, 2)}
    synthetic = [aug[i] for i in range(10, 30)]
    assert all(bytes(np.asarray(im)) in stored for im, _ in synthetic)
    again = ganaug.export(
        ds, tmp_path / "again.h5", 30, labels={0: 10, 4: 20}, seed=2, device="cpu", progress=False
    )
    re = ganaug.H5Dataset(again, output="numpy")
    assert all(bytes(re[i][0].transpose(2, 0, 1)) in stored for i in range(30))


def test_unconditional_file(tmp_path, uncond_model_path):
    out = ganaug.export(uncond_model_path, tmp_path / "u.h5", 64, device="cpu", progress=False)
    ds = ganaug.H5Dataset(out)
    assert ds.num_classes == 0 and ds.classes == [] and (ds.targets == -1).all()
    x, y = ds.sample(8, seed=0)
    assert x.shape == (8, 1, 28, 28) and (y == -1).all()
    with pytest.raises(ValueError, match="unconditional"):
        ds.sample(8, labels=0)


def test_bad_files_are_clear_errors(tmp_path, exported):
    path, _, _ = exported
    with pytest.raises(FileNotFoundError, match="no HDF5 file"):
        ganaug.H5Dataset(tmp_path / "missing.h5")
    text = tmp_path / "notes.h5"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        ganaug.H5Dataset(text)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="not a readable HDF5 file|truncated"):
        ganaug.H5Dataset(truncated)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["images"] = np.zeros((2, 28, 28, 1), np.uint8)
    with pytest.raises(ValueError, match="not a ganaug export"):
        ganaug.H5Dataset(foreign)
    unfinished = tmp_path / "unfinished.h5"
    unfinished.write_bytes(path.read_bytes())
    with h5py.File(unfinished, "r+") as f:
        f.attrs["complete"] = False
    with pytest.raises(ValueError, match="unfinished ganaug export"):
        ganaug.H5Dataset(unfinished)
    (tmp_path / "x.h5.partial").mkdir()
    with pytest.raises(ValueError, match="unfinished export's working folder"):
        ganaug.H5Dataset(tmp_path / "x.h5.partial")
