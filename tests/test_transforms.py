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


class _Counting:
    """A SampleSource wrapper that counts generator calls (a real generator underneath)."""

    def __init__(self, source) -> None:
        self.source, self.calls = source, 0
        self.image_shape, self.num_classes = source.image_shape, source.num_classes

    def sample(self, *args, **kwargs):
        self.calls += 1
        return self.source.sample(*args, **kwargs)


class _Elsewhere(_Counting):
    """Records the device each block is asked on, and makes it on the CPU: "meta" stands in
    for a GPU on a machine without one."""

    def __init__(self, source) -> None:
        super().__init__(source)
        self.devices = []

    def sample(self, *args, device=None, **kwargs):
        self.devices.append(torch.device(device))
        return super().sample(*args, device="cpu", **kwargs)


def test_device_generates_there_and_returns_on_the_inputs_device(fmnist_test, batch, gen):
    x, y = batch
    src = _Elsewhere(gen)
    t = SyntheticReplace(src, p=1.0, seed=5, device="meta")
    assert "device=meta" in repr(t) and "device" not in repr(SyntheticReplace(gen))
    rows = torch.stack([t(x[i], int(y[i]))[0] for i in range(8)])  # per sample, CPU tensors
    pil, _ = t(fmnist_test[0][0], fmnist_test[0][1])
    assert rows.device.type == "cpu" and isinstance(pil, PIL.Image.Image)
    assert src.devices and set(src.devices) == {torch.device("meta")}
    here = SyntheticReplace(gen, p=1.0, seed=5)  # generated on the input's device: same bytes
    assert torch.equal(rows, torch.stack([here(x[i], int(y[i]))[0] for i in range(8)]))
    batched = SyntheticReplace(_Elsewhere(gen), p=1.0, seed=5, device="meta")(x[:8], y[:8])[0]
    assert torch.equal(batched, rows)
    back = pickle.loads(pickle.dumps(t))  # the setting travels to DataLoader workers
    assert back._streams.device == torch.device("meta")
    # one generator call makes as many blocks of 128 as the device's call has rows (CUDA pads
    # every call to 1,024): 256 on "meta", so 300 draws of a class cost 2 calls, not 3
    xs, ys = x[:1].expand(300, -1, -1, -1), torch.full((300,), 3)
    for pool in (4096, None):
        cpu, far = _Counting(gen), _Elsewhere(gen)
        a = SyntheticReplace(cpu, p=1.0, seed=5, pool=pool)(xs, ys)[0]
        b = SyntheticReplace(far, p=1.0, seed=5, pool=pool, device="meta")(xs, ys)[0]
        assert torch.equal(a, b) and (cpu.calls, far.calls) == (3, 2)


def test_device_in_a_worker_is_a_clear_error(batch, gen):
    x, y = batch
    ds = _Joint(x, y, SyntheticReplace(_Elsewhere(gen), p=1.0, seed=5, device="meta"))
    with pytest.raises(RuntimeError, match="DataLoader worker, where CUDA cannot start"):
        next(iter(torch.utils.data.DataLoader(ds, batch_size=4, num_workers=1)))


def test_pool_generates_once_then_reuses(batch, gen):
    x, _ = batch
    y = torch.full((300,), 3)
    xs = x[:1].expand(300, -1, -1, -1)
    src = _Counting(gen)
    t = SyntheticReplace(src, p=1.0, seed=5, pool=200)
    first = t(xs, y)[0]
    assert src.calls == 2  # draws 0..199 in two blocks of 128; draws 200..299 repeat them
    assert torch.equal(first[200:], first[:100])
    assert len({bytes(r.numpy()) for r in first[:200]}) == 200  # 200 distinct images
    again = t(xs, y)[0]  # the next 300 draws: images 100..199, then 0..199 again
    assert src.calls == 2 and torch.equal(again[:100], first[100:200])
    fresh = _Counting(gen)
    unpooled = SyntheticReplace(fresh, p=1.0, seed=5, pool=None)(xs, y)[0]
    assert fresh.calls == 3 and torch.equal(unpooled[:200], first[:200])  # same stream
    assert not torch.equal(unpooled[200:], first[200:])  # then new images, not repeats
    one = _Counting(gen)
    t1 = SyntheticReplace(one, p=1.0, seed=5, pool=200)
    rows = torch.stack([t1(xs[0], 3)[0] for _ in range(300)])  # the per-sample path
    assert torch.equal(rows, first) and one.calls == 2
    back = pickle.loads(pickle.dumps(t))  # the pool travels as a setting, not as images
    assert back.pool == 200 and back._streams._blocks == {} and "pool=200" in repr(back)
    assert back._streams._here == -1  # looked up again in the process that unpickles it


def test_pool_auto_size_and_bad_values(gen):
    from ganaug.augment._seeding import resolve_pool

    assert SyntheticReplace(gen).pool == 4096  # 10 classes of 1x28x28: 32 MiB

    class Cifar100:
        image_shape, num_classes = (3, 32, 32), 100

    assert resolve_pool("auto", Cifar100()) == 768  # 256 MiB / (100 * 3072 bytes), by 128
    for bad in (0, -3, "big", 2.5, True):
        with pytest.raises(ValueError, match="expected pool 'auto', None or an int >= 1"):
            SyntheticReplace(gen, pool=bad)


def test_synthetic_pil_images_match_pil_fromarray():
    from ganaug.augment._forms import detect_form, to_form

    for c in (1, 2, 3, 4):  # L, LA, RGB, RGBA: the fast path builds what fromarray builds
        x = torch.randint(0, 256, (c, 5, 7), dtype=torch.uint8, generator=torch.Generator())
        hwc = x.permute(1, 2, 0).numpy()
        ref = PIL.Image.fromarray(np.ascontiguousarray(hwc[:, :, 0] if c == 1 else hwc))
        got = to_form(x, detect_form(ref))
        assert got.mode == ref.mode and got.size == (7, 5) and got.tobytes() == ref.tobytes()


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


# ---- torchvision v2 conventions (the checks of torchvision's check_transform and its sample
# smoke test, for a classification transform) ------------------------------------------------


def _passthrough_items():
    from pathlib import Path

    return {
        "int": 0,
        "float": 0.0,
        "bool": True,
        "none": None,
        "str": "str",
        "path": Path.cwd(),
        "object": object(),
        "tensor": torch.empty(5),
        "array": np.empty(5),
    }


@pytest.mark.parametrize("kind", ["pure", "pil", "tv_image"])
def test_v2_sample_smoke_every_container(batch, gen, kind):
    from torch.utils._pytree import tree_flatten

    x, y = batch
    image = {
        "pure": x[0],
        "pil": v2.functional.to_pil_image(x[0]),
        "tv_image": tv_tensors.Image(x[0]),
    }[kind]
    sample = {"image": image, "labels": int(y[0]), **_passthrough_items()}
    if kind != "pure":
        sample["other_pure_tensor"] = torch.zeros(1, 28, 28, dtype=torch.uint8)  # v2: passed
    for container in (dict, list, tuple):
        inp = sample if container is dict else container(sample.values())
        t = SyntheticReplace(gen, p=1.0, seed=0)
        out = t(inp)
        in_flat, in_spec = tree_flatten(inp)
        out_flat, out_spec = tree_flatten(out)
        assert out_spec == in_spec
        for a, b in zip(in_flat, out_flat, strict=True):
            if a is image:
                assert type(b) is type(a) and b is not a  # the image, replaced
            else:
                assert b is a, (container, type(a))  # everything else passes through
        pickle.loads(pickle.dumps(t))


def test_v2_check_transform_output_types_and_pickle(batch, gen):
    x, y = batch
    t = SyntheticReplace(gen, p=1.0, seed=3)
    for inp in (
        x[0],
        tv_tensors.Image(x[0]),
        v2.functional.to_pil_image(x[0]),
        x,
        tv_tensors.Image(x),
    ):
        back = pickle.loads(pickle.dumps(t))
        label = y if isinstance(inp, torch.Tensor) and inp.ndim == 4 else y[0]
        out, out_label = back(inp, label)
        assert isinstance(out, type(inp)) and out_label is label
    assert isinstance(t(x, y)[0], torch.Tensor)


@pytest.mark.parametrize(
    "label",
    [3, torch.tensor(3), torch.nn.functional.one_hot(torch.tensor(3), 10).float()],
    ids=["int", "0-d", "soft"],
)
def test_labels_found_in_dicts_and_tuples(batch, gen, label):
    x, _ = batch
    want, _ = SyntheticReplace(gen, p=1.0, seed=5)(x[0], 3)
    for sample in (
        {"label": label, "image": x[0]},  # key order and 'label' (v2's fallback) both fine
        {"labels": label, "image": x[0]},
        {"image": tv_tensors.Image(x[0]), "labels": label, "id": torch.tensor(7)},
        (x[0], label),
        (x[0], {"labels": label}),
    ):
        out = SyntheticReplace(gen, p=1.0, seed=5)(sample)
        img = out["image"] if isinstance(out, dict) else out[0]
        assert torch.equal(torch.as_tensor(img), want)
    custom = SyntheticReplace(gen, p=1.0, seed=5, labels_getter=lambda s: s["cls"])
    assert torch.equal(custom({"pixels": x[0], "cls": label})["pixels"], want)


def test_batched_soft_labels_and_tv_image_batch(batch, gen):
    x, y = batch
    soft = torch.nn.functional.one_hot(y, 10).float()
    want, _ = SyntheticReplace(gen, p=0.5, seed=4)(x, y)
    out, out_y = SyntheticReplace(gen, p=0.5, seed=4)(x, soft)
    assert torch.equal(out, want) and out_y is soft
    d = SyntheticReplace(gen, p=0.5, seed=4)({"images": tv_tensors.Image(x), "labels": y})
    assert isinstance(d["images"], tv_tensors.Image) and torch.equal(d["images"], want)


def test_normalize_after_v2_normalize(batch, gen):
    x, y = batch
    mean, std = (0.286,), (0.353,)
    norm = v2.Normalize(mean, std)
    x01 = x.float() / 255
    plain, _ = SyntheticReplace(gen, p=0.5, seed=6)(x01, y)
    after, _ = SyntheticReplace(gen, p=0.5, seed=6, normalize=(mean, std))(norm(x01), y)
    torch.testing.assert_close(after, norm(plain))
    with pytest.raises(ValueError, match=r"float image in \[0, 1\].*normalize=\(mean, std\)"):
        SyntheticReplace(gen, p=0.5)(norm(x01), y)
    with pytest.raises(
        ValueError, match="normalize=.*for normalised float images, got Tensor of dtype torch.uint8"
    ):
        SyntheticReplace(gen, normalize=(mean, std))(x, y)


def test_v2_conventions_bad_input(batch, gen):
    x, y = batch
    with pytest.raises(
        ValueError, match=r"expected a key 'labels'.*found keys \['image', 'klass'\]"
    ):
        SyntheticReplace(gen)({"image": x[0], "klass": 3})
    boxes = tv_tensors.BoundingBoxes([[0, 0, 5, 5]], format="XYXY", canvas_size=(28, 28))
    with pytest.raises(ValueError, match="holds BoundingBoxes, which would not describe"):
        SyntheticReplace(gen)({"boxes": boxes, "image": tv_tensors.Image(x[0]), "labels": 3})
    with pytest.raises(ValueError, match="expected one image in the sample.*found 2"):
        SyntheticReplace(gen)(
            {"a": tv_tensors.Image(x[0]), "b": tv_tensors.Image(x[1]), "labels": 3}
        )
    with pytest.raises(ValueError, match="labels_getter 'default' or a callable"):
        SyntheticReplace(gen, labels_getter="labels")


class _Joint(torch.utils.data.Dataset):
    def __init__(self, x, y, transform):
        self.x, self.y, self.transform = x, y, transform

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.transform(self.x[i], int(self.y[i]))


class _SeedProbe(torch.utils.data.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        from ganaug.augment._seeding import stream_seed

        info = torch.utils.data.get_worker_info()
        return torch.tensor([stream_seed(1), stream_seed(1), stream_seed(2), info.seed])


def test_stream_seed_is_mixed_with_each_workers_seed():
    """The worker mix is kept per (seed, worker seed), never shared between workers or seeds."""
    from ganaug import _rng

    loader = torch.utils.data.DataLoader(
        _SeedProbe(), batch_size=None, num_workers=2, generator=torch.Generator().manual_seed(0)
    )
    rows = torch.stack(list(loader))
    for s1, again, s2, wseed in rows.tolist():
        k = _rng.index_keys(torch.tensor([wseed & 0xFFFFFFFF]), 1, _rng.STREAM_WORKER)
        assert s1 == again == 1 ^ (int(k[0]) << 20) ^ (wseed >> 32)  # the documented mix
        assert s2 != s1
    assert len(set(rows[:, 0].tolist())) == 2  # the two workers draw different streams


def test_per_sample_in_workers_is_reproducible_for_a_worker_count(batch, gen):
    x, y = batch

    def epoch(workers: int) -> torch.Tensor:
        ds = _Joint(x, y, SyntheticReplace(gen, p=0.5, seed=1))
        loader = torch.utils.data.DataLoader(
            ds, batch_size=8, num_workers=workers, generator=torch.Generator().manual_seed(0)
        )
        return torch.cat([images for images, _ in loader])

    two = epoch(2)
    assert torch.equal(two, epoch(2))  # the same worker count and loader seed: the same bytes
    assert not torch.equal(two, epoch(0))  # README: the bytes depend on the worker count
    assert 0 < int((two != x).flatten(1).any(1).sum()) < 32


class _PoolProbe(torch.utils.data.Dataset):
    """Item i: the next draw of class 3 from ``streams``, its draw number, this process's pool
    and worker id."""

    def __init__(self, streams, source, n: int):
        self.streams, self.source, self.n = streams, source, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        m = self.streams.assign_one(3)
        image = self.streams.row(self.source, 3, m, 0, torch.device("cpu")).clone()
        info = torch.utils.data.get_worker_info()
        return image, m, self.streams.local_pool(), -1 if info is None else info.id


def test_auto_pool_is_shared_out_among_workers(gen):
    """An "auto" pool is split among W workers (pool / W each, whole blocks), so the workers
    hold and generate as many distinct images as one process; an int pool is per worker."""
    from ganaug.augment._seeding import ClassStreams

    def run(streams, workers: int):
        loader = torch.utils.data.DataLoader(
            _PoolProbe(streams, gen, 1024), batch_size=64, num_workers=workers
        )
        return [torch.cat(parts) for parts in zip(*loader, strict=True)]

    images, draws, pools, ids = run(ClassStreams(pool=512, share=True), 2)
    assert set(pools.tolist()) == {256} and set(ids.tolist()) == {0, 1}
    for w in (0, 1):
        mine = ids == w
        imgs, ms = images[mine], draws[mine]
        assert ms.tolist() == list(range(512))  # each worker draws 0..511 of class 3
        assert torch.equal(imgs[256:], imgs[:256])  # then repeats its share of 256
        assert len({bytes(r.numpy()) for r in imgs}) == 256
    images, draws, pools, _ = run(ClassStreams(pool=512, share=False), 2)  # an int pool
    assert set(pools.tolist()) == {512}
    images, draws, pools, _ = run(ClassStreams(pool=512, share=True), 0)  # no workers
    assert set(pools.tolist()) == {512} and torch.equal(images[512:], images[:512])
    assert len({bytes(r.numpy()) for r in images}) == 512
    assert SyntheticReplace(gen)._streams.share and SyntheticReplace(gen)._streams.pool == 4096
    assert not SyntheticReplace(gen, pool=4096)._streams.share


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


def test_albumentations_finds_labels_and_normalizes(fmnist_test, gen):
    from ganaug.augment.albu import SyntheticReplace as AlbuReplace

    img = fmnist_test.data[0].numpy()[..., None]
    want = A.Compose([AlbuReplace(gen, p=1.0)], seed=1)(image=img, label=4)["image"]
    for data in ({"labels": 4}, {"class_label": 4}):
        got = A.Compose([AlbuReplace(gen, p=1.0)], seed=1)(image=img, **data)["image"]
        assert np.array_equal(got, want)
    named = A.Compose([AlbuReplace(gen, p=1.0, label_key="y")], seed=1)(image=img, y=4)
    assert np.array_equal(named["image"], want)
    mean, std = (0.286,), (0.353,)
    norm = A.Compose(
        [
            A.Normalize(mean, std, max_pixel_value=255.0),
            AlbuReplace(gen, p=1.0, normalize=(mean, std)),
        ],
        seed=1,
    )(image=img, label=4)["image"]
    np.testing.assert_allclose(norm, (want / 255.0 - mean[0]) / std[0], rtol=1e-5, atol=1e-5)


def test_albumentations_pool_repeats(fmnist_test, gen):
    from ganaug.augment.albu import SyntheticReplace as AlbuReplace

    img = fmnist_test.data[0].numpy()[..., None]
    pipe = A.Compose([AlbuReplace(gen, p=1.0, pool=3)], seed=2)
    out = [pipe(image=img, label=6)["image"] for _ in range(6)]
    assert all(np.array_equal(out[i], out[i + 3]) for i in range(3))
    assert not np.array_equal(out[0], out[1])
    assert AlbuReplace(gen).pool == 4096 and AlbuReplace(gen)._streams.share  # shared out
    assert not AlbuReplace(gen, pool=3)._streams.share


def test_albumentations_device(fmnist_test, gen):
    from ganaug.augment.albu import SyntheticReplace as AlbuReplace

    img = fmnist_test.data[0].numpy()[..., None]
    src = _Elsewhere(gen)
    there = A.Compose([AlbuReplace(src, p=1.0, device="meta")], seed=2)(image=img, label=6)
    here = A.Compose([AlbuReplace(gen, p=1.0)], seed=2)(image=img, label=6)
    assert set(src.devices) == {torch.device("meta")}
    assert np.array_equal(there["image"], here["image"])


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
    with pytest.raises(ValueError, match=r"under 'label' or 'labels'.*found keys \['klass'\]"):
        pipe(image=img, klass=1)
    with pytest.raises(ValueError, match=r"under 'y'.*found keys \['label'\]"):
        A.Compose([AlbuReplace(gen, p=1.0, label_key="y")])(image=img, label=1)
    with pytest.raises(ValueError, match=r"float image in \[0, 1\].*normalize=\(mean, std\)"):
        pipe(image=np.full((28, 28, 1), -0.5, np.float32), label=1)
    with pytest.raises(ValueError, match=r"\(28, 28, 1\).*\(32, 32, 3\)"):
        pipe(image=np.zeros((32, 32, 3), np.uint8), label=1)
    with pytest.raises(ValueError, match="integer class label"):
        pipe(image=img, label=1.5)
