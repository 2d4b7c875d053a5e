"""ganaug.metrics: the domain classifier, its cache, Frechet distance and class accuracy."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ganaug.data import to_tensors
from ganaug.metrics import (
    DomainClassifier,
    class_accuracy,
    default_cache_dir,
    domain_classifier,
    extract_features,
    frechet_distance,
    frechet_distance_features,
    kernel_distance_features,
    load_classifier,
    memorisation,
    nearest,
    prdc,
    train_domain_classifier,
)


@pytest.fixture(scope="session")
def classifier_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache dir for the whole session: every test module that needs the classifier
    (and the CLI subprocesses, via $GANAUG_CACHE) reads the one trained here."""
    return tmp_path_factory.getbasetemp() / "ganaug-cache"


@pytest.fixture(scope="session")
def fmnist_tensors(fmnist_train, fmnist_test):
    return to_tensors(fmnist_train), to_tensors(fmnist_test)


@pytest.fixture(scope="session")
def fmnist_classifier(fmnist_tensors, classifier_cache: Path) -> DomainClassifier:
    """The default domain classifier of real Fashion-MNIST (60k train images), trained once."""
    (x, y), _ = fmnist_tensors
    return domain_classifier(x, y, cache_dir=classifier_cache / "classifiers")


def _noisy(x: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (
        (x.float() + sigma * torch.randn(x.shape, generator=g))
        .round()
        .clamp(0, 255)
        .to(torch.uint8)
    )


def test_classifier_accuracy_on_real_test_split(fmnist_classifier, fmnist_tensors):
    _, (xt, yt) = fmnist_tensors
    acc = class_accuracy(fmnist_classifier, xt, yt)
    assert acc >= 0.90, f"domain classifier reaches only {acc:.4f} on the real test split"


def test_classifier_is_cached_by_fingerprint(fmnist_classifier, fmnist_tensors, classifier_cache):
    (x, y), _ = fmnist_tensors
    files = list((classifier_cache / "classifiers").glob("*.safetensors"))
    assert len(files) == 1
    again = domain_classifier(x, y, cache_dir=classifier_cache / "classifiers")  # cache hit
    for (k, a), (_, b) in zip(
        fmnist_classifier.state_dict().items(), again.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), k
    raw = files[0].read_bytes()
    assert b"ganaug-domain-classifier" in raw[:4096]  # JSON metadata header, no pickle
    assert torch.equal(load_classifier(files[0]).head.weight, fmnist_classifier.head.weight)


def test_frechet_distance_self_is_zero_and_grows_with_noise(fmnist_classifier, fmnist_tensors):
    _, (xt, _) = fmnist_tensors
    real = xt[:1000]
    assert frechet_distance(real, real, feature_model=fmnist_classifier) < 1e-3
    fds = [
        frechet_distance(real, _noisy(real, s), feature_model=fmnist_classifier)
        for s in (8.0, 32.0, 96.0)
    ]
    assert fds[0] < fds[1] < fds[2], fds
    # another half of the same distribution sits far below heavy noise
    other = frechet_distance(real, xt[5000:6000], feature_model=fmnist_classifier)
    assert other < fds[2] / 5, (other, fds)


def test_frechet_distance_batch_size_invariant(fmnist_classifier, fmnist_tensors):
    _, (xt, _) = fmnist_tensors
    a = frechet_distance(xt[:600], xt[600:1200], feature_model=fmnist_classifier, batch_size=600)
    b = frechet_distance(xt[:600], xt[600:1200], feature_model=fmnist_classifier, batch_size=97)
    assert a == pytest.approx(b, rel=1e-6, abs=1e-9)


def test_features_shape(fmnist_classifier, fmnist_tensors):
    _, (xt, _) = fmnist_tensors
    f = extract_features(fmnist_classifier, xt[:10], batch_size=3)
    assert f.shape == (10, fmnist_classifier.num_features)
    assert torch.isfinite(f).all()


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32), (3, 64, 48), (1, 28, 28)])
def test_classifier_shapes(shape):
    m = DomainClassifier(image_shape=shape, num_classes=5)
    x = torch.rand(4, *shape) * 2 - 1
    assert m(x).shape == (4, 5)
    assert m.features(x).shape == (4, m.num_features)


@pytest.mark.parametrize("shape", [(2, 28, 28), (1, 4, 28), (1, 28, 65), (28, 28)])
def test_classifier_rejects_bad_shapes(shape):
    with pytest.raises(ValueError, match="expected image_shape"):
        DomainClassifier(image_shape=shape, num_classes=10)


def test_training_is_seeded_and_leaves_global_rng_alone():
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (96, 1, 12, 12), dtype=torch.uint8, generator=g)
    y = torch.arange(96) % 3
    before = torch.random.get_rng_state()
    a = train_domain_classifier(x, y, epochs=1, batch_size=32, seed=5)
    assert torch.equal(before, torch.random.get_rng_state())
    b = train_domain_classifier(x, y, epochs=1, batch_size=32, seed=5)
    c = train_domain_classifier(x, y, epochs=1, batch_size=32, seed=6)
    assert torch.equal(a.head.weight, b.head.weight)
    assert not torch.equal(a.head.weight, c.head.weight)


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("GANAUG_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "classifiers"


def test_bad_inputs(fmnist_classifier):
    x = torch.zeros(4, 1, 28, 28, dtype=torch.uint8)
    with pytest.raises(ValueError, match="uint8"):
        frechet_distance(x.float(), x, feature_model=fmnist_classifier)
    with pytest.raises(ValueError, match=r"\(1, 28, 28\)"):
        frechet_distance(
            x, torch.zeros(4, 3, 28, 28, dtype=torch.uint8), feature_model=fmnist_classifier
        )
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(x[:1], x, feature_model=fmnist_classifier)
    with pytest.raises(ValueError, match="one label per image"):
        class_accuracy(fmnist_classifier, x, [0, 1])


def _gauss(n: int, shift: float = 0.0, seed: int = 0, dim: int = 8) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=g) + shift


def test_prdc_same_distribution():
    m = prdc(_gauss(1500, seed=1), _gauss(1500, seed=2), k=5)
    assert m["precision"] > 0.8 and m["recall"] > 0.8, m
    assert 0.8 < m["density"] < 1.2 and m["coverage"] > 0.9, m


def test_prdc_disjoint_distributions():
    m = prdc(_gauss(800, seed=1), _gauss(800, shift=20.0, seed=2), k=5)
    assert m == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_prdc_known_overlap():
    real = _gauss(2000, seed=1)
    # half the fake samples are real-like, half lie far away: precision and density about 0.5
    fake = torch.cat([_gauss(1000, seed=2), _gauss(1000, shift=20.0, seed=3)])
    m = prdc(real, fake, k=5)
    assert 0.4 < m["precision"] < 0.6 and 0.35 < m["density"] < 0.65, m
    assert m["recall"] > 0.6 and m["coverage"] > 0.8, m
    # mode dropping: real has two modes, fake only one -> recall and coverage about 0.5
    real2 = torch.cat([_gauss(1000, seed=4), _gauss(1000, shift=20.0, seed=5)])
    m2 = prdc(real2, _gauss(2000, seed=6), k=5)
    assert m2["precision"] > 0.8, m2
    assert 0.4 < m2["recall"] < 0.6 and 0.4 < m2["coverage"] < 0.6, m2


def test_prdc_batch_size_invariant():
    a = prdc(_gauss(300, seed=1), _gauss(250, shift=0.5, seed=2), batch_size=1024)
    b = prdc(_gauss(300, seed=1), _gauss(250, shift=0.5, seed=2), batch_size=7)
    assert a == b


def test_kernel_and_frechet_distance_on_features():
    real, same = _gauss(1000, seed=1), _gauss(1000, seed=2)
    far = _gauss(1000, shift=1.0, seed=3)
    assert frechet_distance_features(real, real) < 1e-6
    assert frechet_distance_features(real, same) < frechet_distance_features(real, far)
    before = torch.random.get_rng_state()
    k_same = kernel_distance_features(real, same, subsets=20, subset_size=500, seed=0)
    assert torch.equal(before, torch.random.get_rng_state())
    k_far = kernel_distance_features(real, far, subsets=20, subset_size=500, seed=0)
    assert abs(k_same[0]) < k_far[0] / 10, (k_same, k_far)
    assert k_same == kernel_distance_features(real, same, subsets=20, subset_size=500, seed=0)
    with pytest.raises(ValueError, match="one width"):
        prdc(real, _gauss(10, dim=3))
    with pytest.raises(ValueError, match="at least 6"):
        prdc(real, real[:5], k=5)


def test_nearest_measures_exact_copies_at_zero():
    """cdist's matmul form puts identical rows ~1e-8 apart on some CPUs; copies must be 0."""
    ref = _gauss(500, seed=4, dim=128) + 3  # at 128 wide the matmul form misses 0 on every row
    d, i = nearest(ref[::5], ref, k=3, batch_size=64)
    assert torch.equal(d[:, 0], torch.zeros(100, dtype=torch.float64))
    assert torch.equal(i[:, 0], torch.arange(0, 500, 5))
    assert bool((d[:, 1:] > 0).all()) and bool((d.diff(dim=1) >= 0).all())
    brute = torch.linalg.vector_norm(ref[::5, None].double() - ref[None].double(), dim=2)
    assert torch.allclose(d, brute.sort(dim=1).values[:, :3], rtol=0, atol=1e-9)
    mem = memorisation(ref, _gauss(200, seed=5, dim=128) + 3, ref[:100])
    assert mem["copy_rate"] == 1.0 and mem["nn_ratio"] == 0.0
