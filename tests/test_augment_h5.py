"""The augment contract with an ``H5Dataset`` source (a real HDF5 export) instead of a Generator."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch.utils.data import DataLoader, Subset, TensorDataset
from torchvision.transforms import v2

import ganaug
from ganaug.augment import GANAugmented, SyntheticMixer, SyntheticReplace, mix


@pytest.fixture(scope="module")
def h5src(cond_model_path, tmp_path_factory):
    path = tmp_path_factory.mktemp("h5") / "synthetic.h5"
    gen = ganaug.load(cond_model_path)
    ganaug.export(gen, path, 640, labels="balanced", seed=1, device="cpu", progress=False)
    return ganaug.H5Dataset(path)


def test_h5_source_in_ganaugmented(fmnist_test, h5src):
    ds = GANAugmented(
        fmnist_test,
        h5src,
        sampling_strategy={0: 1100, 5: 1050},
        seed=2,
        block_size=64,
        transform=v2.PILToTensor(),
    )
    assert torch.bincount(ds.synthetic_targets, minlength=10)[[0, 5]].tolist() == [100, 50]
    want, labels = h5src.sample(150, labels=ds.synthetic_targets, seed=2)
    got = torch.stack([ds[ds.n_real + j][0] for j in range(150)])
    assert torch.equal(got, want) and torch.equal(labels, ds.synthetic_targets)
    back = pickle.loads(pickle.dumps(ds))  # the HDF5 handle is reopened per process

    def run(dataset, workers):
        g = torch.Generator().manual_seed(0)
        part = Subset(dataset, list(range(9950, 10150)))
        dl = DataLoader(part, batch_size=40, shuffle=True, num_workers=workers, generator=g)
        return torch.cat([x for x, _ in dl])

    assert torch.equal(run(ds, 0), run(back, 2))


def test_h5_source_in_transform_and_mixer(fmnist_test, h5src):
    x, y = fmnist_test.data[:24, None].clone(), fmnist_test.targets[:24].clone()
    keep = x.clone()
    t = SyntheticReplace(h5src, p=0.5, seed=3)
    out, _ = t(x, y)
    one = SyntheticReplace(h5src, p=0.5, seed=3)
    assert torch.equal(out, torch.stack([one(x[i], y[i])[0] for i in range(24)]))
    assert torch.equal(x, keep) and out.dtype == torch.uint8
    xo, yo, syn = SyntheticMixer(h5src, ratio=0.5, seed=4)(x, y)
    want, _ = h5src.sample(12, labels=yo[24:], seed=4)  # uint8 rows, as the batch
    assert torch.equal(x, keep) and torch.equal(xo[24:], want) and syn[24:].all()
    loader = DataLoader(TensorDataset(x.float() / 255, y), batch_size=8)
    batches = list(mix(loader, h5src, device="cpu", ratio=0.25, mode="replace", return_mask=True))
    assert len(batches) == 3 and all(int(s.sum()) == 2 for _, _, s in batches)
