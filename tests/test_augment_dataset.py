"""GANAugmented on real Fashion-MNIST: determinism by index, raw forms, workers, balancing."""

from __future__ import annotations

import pickle

import numpy as np
import PIL.Image
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision.transforms import v2

import ganaug
from ganaug.augment import GANAugmented

from .conftest import make_model_file


class CountingSource:
    """A real SampleSource (delegates to a Generator) that counts its sample() calls."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0
        self.image_shape, self.num_classes = inner.image_shape, inner.num_classes
        self.class_names = inner.class_names

    def sample(self, n, labels=None, seed=0, **kw):
        self.calls += 1
        return self.inner.sample(n, labels=labels, seed=seed, **kw)


class Imbalanced(Dataset):
    """Real Fashion-MNIST test images, class c kept ``sizes[c]`` times; items (HWC array, int)."""

    def __init__(self, fmnist, sizes, *, with_targets=True):
        targets = fmnist.targets
        idx = torch.cat([(targets == c).nonzero().flatten()[:n] for c, n in enumerate(sizes)])
        self.images = fmnist.data[idx].numpy()[..., None]  # (N, 28, 28, 1) uint8
        self._labels = targets[idx].tolist()
        if with_targets:
            self.targets = list(self._labels)

    def __len__(self):
        return len(self._labels)

    def __getitem__(self, i):
        return self.images[i], self._labels[i]


def synthetic_items(ds, js=None):
    js = range(ds.n_synthetic) if js is None else js
    return [ds[ds.n_real + j] for j in js]


def as_tensor(img):
    return ganaug.data.image_to_uint8_chw(img)


def test_length_index_and_is_synthetic(fmnist_test, gen):
    ds = GANAugmented(fmnist_test, gen, ratio=0.02)
    assert (ds.n_real, ds.n_synthetic, len(ds)) == (10000, 200, 10200)
    assert not ds.is_synthetic(9999) and ds.is_synthetic(10000) and ds.is_synthetic(10199)
    with pytest.raises(IndexError, match="10200"):
        ds[10200]
    with pytest.raises(IndexError):
        ds.is_synthetic(-1)
    assert torch.equal(as_tensor(ds[5][0]), fmnist_test.data[5][None])  # real rows untouched
    assert ds[5][1] == int(fmnist_test.targets[5])
    assert torch.equal(ds.targets, torch.cat([fmnist_test.targets, ds.synthetic_targets]))
    assert ds.classes == fmnist_test.classes


def test_synthetic_item_j_is_sample_j_of_the_seed(fmnist_test, gen):
    ds = GANAugmented(
        fmnist_test, gen, n_synthetic=150, seed=7, block_size=64, transform=v2.PILToTensor()
    )
    want, _ = gen.sample(150, labels=ds.synthetic_targets, seed=7)  # one call, all rows
    got = torch.stack([img for img, _ in synthetic_items(ds)])
    assert torch.equal(got, want)
    assert [t for _, t in synthetic_items(ds)] == ds.synthetic_targets.tolist()


def test_access_order_and_block_size_do_not_change_items(fmnist_test, gen):
    kw = dict(n_synthetic=130, seed=3, transform=v2.PILToTensor())
    a = GANAugmented(fmnist_test, gen, block_size=64, **kw)
    b = GANAugmented(fmnist_test, gen, block_size=256, cache_bytes=0, **kw)
    order = torch.randperm(130, generator=torch.Generator().manual_seed(0)).tolist()
    forward = {j: x for j, (x, _) in zip(range(130), synthetic_items(a), strict=True)}
    shuffled = dict(zip(order, [x for x, _ in synthetic_items(b, order)], strict=True))
    assert all(torch.equal(forward[j], shuffled[j]) for j in range(130))


def test_blocks_not_one_call_per_item(fmnist_test, gen):
    src = CountingSource(gen)
    ds = GANAugmented(fmnist_test, src, n_synthetic=512, block_size=128)
    order = torch.randperm(512, generator=torch.Generator().manual_seed(1)).tolist()
    synthetic_items(ds, order)
    assert src.calls == 4  # shuffled access: each aligned block generated once


def test_lru_cache_when_the_images_do_not_fit(fmnist_test, gen):
    src = CountingSource(gen)
    ds = GANAugmented(fmnist_test, src, n_synthetic=300, block_size=64, cache_bytes=0)
    synthetic_items(ds)
    assert src.calls == 5  # sequential access: one call per block, 2 blocks kept
    synthetic_items(ds, [299, 298, 0])
    assert src.calls == 6


def test_workers_fill_one_shared_buffer(fmnist_test, gen):
    src = CountingSource(gen)
    ds = GANAugmented(fmnist_test, src, n_synthetic=256, block_size=64, transform=v2.PILToTensor())
    dl = DataLoader(
        Subset(ds, range(10000, 10256)),
        batch_size=32,
        shuffle=True,
        num_workers=2,
        generator=torch.Generator().manual_seed(0),
    )
    from_workers = torch.cat([x for x, _ in dl])
    assert from_workers.shape == (256, 1, 28, 28)
    synthetic_items(ds)  # the main process reads the blocks the workers generated
    assert src.calls == 0


def test_same_form_as_real_rows(fmnist_test, gen):
    pil = GANAugmented(fmnist_test, gen, n_synthetic=2)
    img, target = pil[len(pil) - 1]
    assert isinstance(img, PIL.Image.Image) and img.mode == "L" and img.size == (28, 28)
    assert isinstance(target, int)
    to_float = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
    real_t = ganaug.data.fashion_mnist(
        fmnist_test.root, train=False, transform=to_float, target_transform=lambda y: y + 100
    )
    ds = GANAugmented(real_t, gen, n_synthetic=2)  # reuses the dataset's transforms
    assert ds.transform is to_float
    (r, ry), (s, sy) = ds[0], ds[len(ds) - 1]
    assert type(s) is type(r) and s.dtype == r.dtype == torch.float32 and s.shape == r.shape
    assert ry >= 100 and sy == int(ds.synthetic_targets[-1]) + 100
    split = GANAugmented(Subset(real_t, range(50, 150)), gen, sampling_strategy="minority")
    assert split.transform is to_float and torch.equal(split[0][0], real_t[50][0])
    assert split[len(split) - 1][0].dtype == torch.float32  # through the base's transform
    own = GANAugmented(real_t, gen, n_synthetic=2, transform=None, target_transform=None)
    assert isinstance(own[len(own) - 1][0], PIL.Image.Image)
    hwc = GANAugmented(Imbalanced(fmnist_test, [5] * 10), gen, n_synthetic=3)
    x, _ = hwc[len(hwc) - 1]
    assert isinstance(x, np.ndarray) and x.shape == (28, 28, 1) and x.dtype == np.uint8


def test_dataloader_workers_0_and_2_same_items(fmnist_test, gen):
    ds = GANAugmented(
        fmnist_test, gen, n_synthetic=300, seed=5, block_size=64, transform=v2.PILToTensor()
    )
    part = Subset(ds, list(range(9900, 10300)))  # real tail and all synthetic items

    def run(workers):
        g = torch.Generator().manual_seed(0)
        dl = DataLoader(part, batch_size=50, shuffle=True, num_workers=workers, generator=g)
        xs, ys = zip(*dl, strict=True)
        return torch.cat(xs), torch.cat(ys)

    x0, y0 = run(0)
    x2, y2 = run(2)
    assert torch.equal(x0, x2) and torch.equal(y0, y2)


class ThreadProbe(Dataset):
    def __init__(self, ds):
        self.ds = ds

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        self.ds[i]
        return torch.get_num_threads()


def test_workers_generate_on_one_thread(fmnist_test, gen):
    ds = GANAugmented(fmnist_test, gen, n_synthetic=64)
    dl = DataLoader(Subset(ThreadProbe(ds), [10000, 10001]), batch_size=1, num_workers=1)
    assert [int(t) for t in dl] == [1, 1]


def test_cuda_generation_in_a_worker_is_a_clear_error(fmnist_test, gen):
    ds = GANAugmented(fmnist_test, gen, n_synthetic=8, device="cuda")
    dl = DataLoader(Subset(ds, [10000]), batch_size=1, num_workers=1)
    with pytest.raises(RuntimeError, match="DataLoader worker.*device='cpu'"):
        next(iter(dl))


def test_pickle_round_trip(fmnist_test, gen):
    ds = GANAugmented(fmnist_test, gen, n_synthetic=70, transform=v2.PILToTensor())
    ds[10050]  # fill the cache: it is not pickled
    back = pickle.loads(pickle.dumps(ds))
    assert len(back) == len(ds) and torch.equal(back.synthetic_targets, ds.synthetic_targets)
    for i in (3, 10000, 10069):
        assert torch.equal(back[i][0], ds[i][0]) and back[i][1] == ds[i][1]


def test_repr_torchvision_style(fmnist_test, gen):
    text = repr(GANAugmented(fmnist_test, gen, ratio=0.01, transform=v2.PILToTensor()))
    lines = text.splitlines()
    assert lines[0] == "Dataset GANAugmented"
    assert "    Number of datapoints: 10100" in lines
    assert "    Synthetic: 100 (labels=balanced, seed=0)" in lines
    assert any("PILToTensor" in ln for ln in lines)


SIZES = [300, 50, 120, 300, 80, 200, 60, 150, 90, 250]


@pytest.mark.parametrize(
    "strategy, expected",
    [
        ("auto", {c: 300 - n for c, n in enumerate(SIZES) if c != 0}),
        ("not majority", {c: 300 - n for c, n in enumerate(SIZES) if c != 0}),
        ("minority", {1: 250}),
        ("not minority", {c: 300 - n for c, n in enumerate(SIZES) if c != 1}),
        ("all", {c: 300 - n for c, n in enumerate(SIZES)}),
        ({1: 400, 4: 80}, {1: 350}),
        (lambda y: {int(c): 2 * int((y == c).sum()) for c in (2, 6)}, {2: 120, 6: 60}),
    ],
)
def test_sampling_strategy_counts(fmnist_test, gen, strategy, expected):
    real = Imbalanced(fmnist_test, SIZES)
    ds = GANAugmented(real, gen, sampling_strategy=strategy)
    counts = torch.bincount(ds.synthetic_targets, minlength=10).tolist()
    assert counts == [expected.get(c, 0) for c in range(10)]
    after = torch.bincount(torch.tensor(real.targets), minlength=10) + torch.tensor(counts)
    if strategy in ("auto", "all", "not majority"):
        assert after.tolist() == [300] * 10


def test_labels_read_once_without_targets(fmnist_test, gen):
    real = Imbalanced(fmnist_test, SIZES, with_targets=False)
    ds = GANAugmented(real, gen, sampling_strategy="minority")
    assert torch.bincount(ds.synthetic_targets, minlength=10)[1] == 250


def test_label_modes(fmnist_test, gen):
    real = Imbalanced(fmnist_test, SIZES)
    bal = GANAugmented(real, gen, n_synthetic=1000, labels="balanced")
    assert torch.bincount(bal.synthetic_targets).tolist() == [100] * 10
    match = GANAugmented(real, gen, n_synthetic=1600, labels="match")
    assert torch.bincount(match.synthetic_targets).tolist() == SIZES  # sum(SIZES) == 1600
    uni = GANAugmented(real, gen, n_synthetic=500, labels="uniform", seed=2)
    again = GANAugmented(real, gen, n_synthetic=900, labels="uniform", seed=2)
    assert torch.equal(uni.synthetic_targets, again.synthetic_targets[:500])  # per index


def test_unconditional_source_gives_target_minus_one(fmnist_test, ugen):
    ds = GANAugmented(fmnist_test, ugen, n_synthetic=3)
    img, target = ds[len(ds) - 1]
    assert target == -1 and isinstance(img, PIL.Image.Image)


def test_bad_input(fmnist_test, gen, ugen, tmp_path):
    rgb = ganaug.load(
        make_model_file(
            tmp_path / "rgb.safetensors", arch="mlp", image_shape=(3, 32, 32), num_classes=10
        )
    )
    with pytest.raises(ValueError, match=r"\(1, 28, 28\).*\(3, 32, 32\)"):
        GANAugmented(fmnist_test, rgb, ratio=0.1)
    five = ganaug.load(make_model_file(tmp_path / "five.safetensors", arch="mlp", num_classes=5))
    with pytest.raises(ValueError, match="dataset has 10 classes but the source makes 5"):
        GANAugmented(fmnist_test, five, ratio=0.1)
    with pytest.raises(ValueError, match="ratio >= 0.*-0.5"):
        GANAugmented(fmnist_test, gen, ratio=-0.5)
    with pytest.raises(ValueError, match="class 12.*0..9"):
        GANAugmented(fmnist_test, gen, sampling_strategy={12: 5000})
    with pytest.raises(ValueError, match="999 samples of class 3.*already has 1000"):
        GANAugmented(fmnist_test, gen, sampling_strategy={3: 999})
    with pytest.raises(ValueError, match="unconditional"):
        GANAugmented(fmnist_test, ugen, ratio=0.1, labels="balanced")
    with pytest.raises(ValueError, match="unconditional"):
        GANAugmented(fmnist_test, ugen, sampling_strategy="auto")
    with pytest.raises(ValueError, match="exactly one of"):
        GANAugmented(fmnist_test, gen)
    with pytest.raises(ValueError, match="exactly one of"):
        GANAugmented(fmnist_test, gen, ratio=0.1, n_synthetic=5)
    with pytest.raises(ValueError, match="sampling_strategy one of"):
        GANAugmented(fmnist_test, gen, sampling_strategy="most")
    with pytest.raises(ValueError, match="labels one of"):
        GANAugmented(fmnist_test, gen, ratio=0.1, labels="equal")
