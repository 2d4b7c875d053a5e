"""ganaug.evaluate and `ganaug eval`: the report, CAS, feature spaces, bad input, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import ganaug
from ganaug.data import to_tensors
from ganaug.metrics import domain_classifier, evaluate

from .conftest import make_model_file
from .test_filtering import train_tiny_gan


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp() / "ganaug-cache"  # shared with test_metrics


@pytest.fixture(scope="module")
def fm(fmnist_train):
    return to_tensors(fmnist_train)


@pytest.fixture(scope="module")
def classifier(fm, cache):
    return domain_classifier(*fm, cache_dir=cache / "classifiers")


@pytest.fixture(scope="module")
def tiny_gan(fm, tmp_path_factory) -> Path:
    x, y = fm
    return train_tiny_gan(
        tmp_path_factory.getbasetemp() / "tiny-gan.safetensors", x[:6000], y[:6000]
    )


def _write_samples(path: Path, images: torch.Tensor, labels: torch.Tensor) -> Path:
    with h5py.File(path, "w") as f:
        f["images"] = images.permute(0, 2, 3, 1).numpy()  # (N, H, W, C) as exports store them
        f["labels"] = labels.numpy().astype(np.int64)
    return path


def test_cas_of_real_data_matches_the_real_baseline(fm, data_root, classifier, cache):
    x, y = fm
    # 2000 real training images posing as synthetic ones, disjoint from the baseline's
    # (the baseline picks with randperm(seed=0); take the rows it leaves out)
    base = set(torch.randperm(len(y), generator=torch.Generator().manual_seed(0))[:2000].tolist())
    rest = torch.tensor([i for i in range(len(y)) if i not in base][:2000])
    r = evaluate(
        (x[rest], y[rest]),
        "fashion-mnist",
        n=2000,
        root=data_root,
        classifier=classifier,
        cas_epochs=3,
        class_report=False,
    )
    assert r.cas_n == 2000 and r.cas is not None and r.cas_real_baseline is not None
    assert abs(r.cas - r.cas_real_baseline) < 0.03, (r.cas, r.cas_real_baseline)
    assert r.cas > 0.75
    assert r.precision > 0.6 and r.recall > 0.6 and r.coverage > 0.6, r.to_dict()
    assert r.conditional and r.classes == [] and r.class_accuracy is None


def test_report_of_a_conditional_model(tiny_gan, fm, data_root, classifier):
    r = evaluate(
        str(tiny_gan), "fashion-mnist", n=500, root=data_root, classifier=classifier, cas=False
    )
    d = r.to_dict()
    json.dumps(d)  # JSON for machines
    assert d["n"] == 500 and d["n_real"] == 500 and d["feature_space"].startswith("domain")
    assert [row["requested"] for row in r.classes] == [50] * 10
    assert sum(row["predicted"] for row in r.classes) == 500
    assert 0.3 < r.class_accuracy <= 1.0  # a briefly trained model: mostly right
    assert 0 <= r.precision <= 1 and 0 <= r.coverage <= 1
    x, y = fm
    real = evaluate(
        (x[-500:], y[-500:]),
        "fashion-mnist",
        n=500,
        root=data_root,
        classifier=classifier,
        cas=False,
        class_report=False,
    )
    assert r.fd > 2 * real.fd and r.kid_mean > real.kid_mean, (r.fd, real.fd)
    assert r.cas is None
    table = r.table()
    for text in ("feature space", "N              500 synthetic", "FD", "Ankle boot", "assigned"):
        assert text in table, text
    # fixed N and seed: the same report twice
    again = evaluate(
        str(tiny_gan),
        "fashion-mnist",
        n=500,
        root=data_root,
        classifier=classifier,
        cas=False,
        class_report=False,
    )
    assert again.fd == r.fd and again.kid_mean == r.kid_mean and again.recall == r.recall


def test_within_class_spread_tells_real_images_from_one_prototype_per_class(
    fm, data_root, classifier
):
    x, y = fm
    x, y = x[-1000:], y[-1000:]
    first = torch.stack([torch.nonzero(y == c)[0, 0] for c in range(10)])
    kw = {"n": 1000, "root": data_root, "classifier": classifier, "cas": False}
    real = evaluate((x, y), "fashion-mnist", **kw)
    collapsed = evaluate((x[first[y]], y), "fashion-mnist", **kw)  # each class: one image
    assert real.class_recall > 0.6 and real.class_coverage > 0.6, real.to_dict()
    assert collapsed.class_recall < 0.05 and collapsed.class_coverage < 0.1, collapsed.to_dict()
    for r in (real, collapsed):
        rows = [(row["recall"], row["coverage"]) for row in r.classes]
        assert r.class_recall == pytest.approx(sum(a for a, _ in rows) / 10)
        assert r.class_coverage == pytest.approx(sum(b for _, b in rows) / 10)
    assert "within-class recall" in real.table()


def test_copy_rate_of_new_real_images_and_of_copies(fm, data_root, classifier, fmnist_test):
    x, y = fm
    xt = torch.as_tensor(np.asarray(fmnist_test.data))[:, None]
    yt = torch.as_tensor(np.asarray(fmnist_test.targets))
    kw = {"n": 1000, "root": data_root, "classifier": classifier, "cas": False}
    # real test images the generator never saw (disjoint from the first 1,000, the baseline)
    new = evaluate((xt[5000:6000], yt[5000:6000]), "fashion-mnist", **kw)
    copies = evaluate((x[:1000], y[:1000]), "fashion-mnist", **kw)  # training images
    assert new.copy_rate < 0.04 and 0.85 < new.nn_ratio < 1.15, (new.copy_rate, new.nn_ratio)
    assert copies.copy_rate == 1.0 and copies.nn_ratio == 0.0
    assert new.n_held_out == 1000 and new.copy_threshold > 0
    assert all(row["copy_rate"] == 1.0 for row in copies.classes)
    assert all(0.7 < row["nn_ratio"] < 1.4 for row in new.classes), new.classes
    assert "copy rate" in new.table()
    json.dumps(new.to_dict())


def _page_images(page: Path) -> list[str]:
    from html.parser import HTMLParser

    class Images(HTMLParser):
        def __init__(self):
            super().__init__()
            self.src, self.tags = [], []

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)
            if tag == "img":
                self.src.append(dict(attrs)["src"])

    parser = Images()
    parser.feed(page.read_text(encoding="utf-8"))
    parser.close()
    assert parser.tags[:2] == ["html", "head"] and "table" in parser.tags
    return parser.src


def test_html_report_of_a_trained_run(tmp_path, fm, data_root, classifier, monkeypatch):
    from PIL import Image

    from ganaug.data import ImageData
    from ganaug.training import train

    monkeypatch.setenv("GANAUG_CACHE", str(tmp_path / "cache"))
    x, y = fm
    data = ImageData(x[:512], y[:512], [str(c) for c in range(10)], "fm512")
    model = train(
        data,
        out=tmp_path / "m.safetensors",
        arch="dcgan",
        arch_args={"g_width": 8, "d_width": 8, "embed_dim": 8},
        steps=6,
        batch_size=32,
        eval_every=3,
        eval_samples=64,
        log_every=3,
        sample_every=0,
        checkpoint_every=0,
        progress=False,
    )
    out = tmp_path / "report"
    r = evaluate(
        str(model),
        "fashion-mnist",
        n=300,
        root=data_root,
        classifier=classifier,
        cas=False,
        report=out,
        run_dir=tmp_path / "m.run",
    )
    page = out / "index.html"
    src = _page_images(page)
    assert {"classes.png", "curves.png", "class_0_samples.png", "class_9_real.png"} <= set(src)
    assert sum(s.startswith("nn_") for s in src) == 32
    for s in src:
        assert (out / s).is_file(), s
        with Image.open(out / s) as im:
            assert im.width > 10 and im.height > 10
    text = page.read_text(encoding="utf-8")
    assert "copy rate" in text and f"{r.recall:.4f}" in text and "selected step" in text
    assert "http://" not in text and "https://" not in text  # nothing loaded from elsewhere


def test_unconditional_model_gets_a_histogram_only(uncond_model_path, data_root, classifier):
    r = evaluate(
        str(uncond_model_path), "fashion-mnist", n=200, root=data_root, classifier=classifier
    )
    assert not r.conditional and r.cas is None and r.class_accuracy is None
    assert sum(row["predicted"] for row in r.classes) == 200
    assert "requested" not in r.classes[0]
    assert any("unconditional" in note for note in r.notes)


def test_bad_input(fm, data_root, classifier, tmp_path):
    x, y = fm
    rgb = torch.zeros(50, 3, 28, 28, dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"\(3, 28, 28\).*\(1, 28, 28\)"):
        evaluate((rgb, y[:50]), "fashion-mnist", n=50, root=data_root, classifier=classifier)
    five = make_model_file(tmp_path / "five.safetensors", num_classes=5)
    with pytest.raises(ValueError, match="5 classes.*10"):
        evaluate(str(five), "fashion-mnist", n=50, root=data_root, classifier=classifier)
    few = _write_samples(tmp_path / "few.h5", x[:30], y[:30])
    with pytest.raises(ValueError, match="holds 30 samples but N = 100"):
        evaluate(str(few), "fashion-mnist", n=100, root=data_root, classifier=classifier)
    unlabelled = tmp_path / "unlabelled.npz"
    np.savez(unlabelled, images=x[:300, 0].numpy())
    with pytest.raises(ValueError, match="has no labels"):
        evaluate((x[:100], y[:100]), str(unlabelled), n=100)
    with pytest.raises(ValueError, match="feature_space"):
        evaluate((x[:100], y[:100]), "fashion-mnist", n=100, feature_space="clip")


def test_npz_data_holds_out_a_test_split(fm, tmp_path, cache):
    x, y = fm
    data = tmp_path / "small.npz"
    np.savez(data, images=x[:1200, 0].numpy(), labels=y[:1200].numpy())
    r = evaluate(
        (x[2000:2300], y[2000:2300]), str(data), n=300, cache_dir=cache / "small", cas_epochs=2
    )
    assert r.n_real == 300 and r.cas is not None and r.cas_real_baseline is not None
    assert any("last 200 rows" in note for note in r.notes)


def _rgb_data(tmp_path: Path, fm) -> tuple[Path, torch.Tensor, torch.Tensor]:
    x, y = fm
    rgb = torch.nn.functional.interpolate(x[:40].float(), size=(16, 16)).to(torch.uint8)
    rgb = torch.cat([rgb, 255 - rgb, rgb // 2], dim=1)  # (40, 3, 16, 16)
    data = tmp_path / "rgb.npz"
    np.savez(data, images=rgb[:24].permute(0, 2, 3, 1).numpy(), labels=y[:24].numpy())
    return data, rgb[24:], y[24:40]


def test_inception_is_never_downloaded(monkeypatch, tmp_path, fm):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    data, x, y = _rgb_data(tmp_path, fm)
    kw = {"n": 12, "cas": False, "class_report": False, "cache_dir": tmp_path / "c"}
    with pytest.raises(FileNotFoundError, match="never downloads"):
        evaluate((x, y), str(data), feature_space="inception", **kw)
    auto = evaluate((x, y), str(data), **kw)  # RGB data but no local weights: the domain space
    assert auto.feature_space.startswith("domain")
    assert not (tmp_path / "torch").exists() or not any((tmp_path / "torch").rglob("*.pth"))


@pytest.mark.slow
def test_inception_feature_space_reads_local_weights(monkeypatch, tmp_path, fm):
    from torchvision.models import inception_v3

    from ganaug.metrics.inception import inception_weights_path

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    data, x, y = _rgb_data(tmp_path, fm)
    path = inception_weights_path()  # torchvision's file layout, randomly initialised weights
    path.parent.mkdir(parents=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = inception_v3(weights=None, aux_logits=True, init_weights=True)
        torch.save(net.state_dict(), path)
    kw = {"n": 12, "cas": False, "class_report": False, "cache_dir": tmp_path / "c"}
    r = evaluate((x, y), str(data), **kw)  # auto: RGB data, weights present
    assert r.feature_space.startswith("inception-v3") and np.isfinite(r.fd)


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ganaug", "eval", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_cli(fm, tiny_gan, classifier, cache, data_root, tmp_path):
    x, y = fm
    env = {**os.environ, "GANAUG_CACHE": str(cache)}  # the session's trained classifier
    gen = ganaug.load(tiny_gan)
    images, labels = gen.sample(400, labels="balanced", seed=0)
    samples = _write_samples(tmp_path / "s.h5", images, labels)
    out = tmp_path / "r.json"
    p = _cli(
        "--samples",
        str(samples),
        "--data",
        "fashion-mnist",
        "--root",
        str(data_root),
        "--n",
        "400",
        "--no-cas",
        "--json",
        str(out),
        env=env,
    )
    assert p.returncode == 0, p.stderr
    assert "feature space" in p.stdout and "400 synthetic" in p.stdout
    d = json.loads(out.read_text())
    assert d["n"] == 400 and d["feature_space"].startswith("domain") and d["fd"] > 0
    # the same samples straight from the model give the same figures
    r = evaluate(
        str(tiny_gan), "fashion-mnist", n=400, root=data_root, classifier=classifier, cas=False
    )
    assert r.fd == pytest.approx(d["fd"], rel=1e-6) and r.class_accuracy == d["class_accuracy"]
    p = _cli(
        "--model",
        str(tiny_gan),
        "--filter",
        "confidence:0.9",
        "--data",
        "fashion-mnist",
        "--root",
        str(data_root),
        "--n",
        "400",
        "--no-cas",
        "--json",
        str(out),
        env=env,
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(out.read_text())["class_accuracy"] > d["class_accuracy"]
    bad = _cli(
        "--samples",
        str(samples),
        "--data",
        "fashion-mnist",
        "--root",
        str(data_root),
        "--n",
        "1000",
        env=env,
    )
    assert bad.returncode == 2 and "holds 400 samples but N = 1000" in bad.stderr
    both = _cli("--samples", str(samples), "--model", str(tiny_gan), "--data", "x", env=env)
    assert both.returncode == 2 and "not allowed with" in both.stderr


def test_table_prints_kid_as_the_json_holds_it():
    from ganaug.metrics import EvalReport

    r = EvalReport(
        source="s", data="d", n=10, n_real=10, seed=0, feature_space="f", conditional=False
    )
    r.kid_mean, r.kid_std = 20.0368, 0.512
    line = next(x for x in r.table().splitlines() if "KID" in x)
    assert "20.04 +- 0.51" in line and "x 1e3" not in line, line  # was 20036.85 (scaled twice)
    assert r.to_dict()["kid_mean"] == 20.0368


def test_slow_stages_show_progress(fm, capsys):
    from ganaug.metrics import classification_accuracy_score

    x, y = fm
    scores = classification_accuracy_score(
        (x[:256], y[:256]),
        (x[-256:], y[-256:]),
        real=(x[256:512], y[256:512]),
        epochs=1,
        progress=True,
    )
    err = capsys.readouterr().err
    assert "CAS: classifier on 256 synthetic samples" in err and "on 256 real images" in err
    assert 0 <= scores["cas"] <= 1
    classification_accuracy_score((x[:256], y[:256]), (x[-256:], y[-256:]), epochs=1)
    assert "CAS" not in capsys.readouterr().err  # the Python default is silent
    from ganaug.metrics import extract_features, train_domain_classifier

    clf = train_domain_classifier(x[:256], y[:256], epochs=1)
    assert extract_features(clf, x[:1024], progress="features: test").shape == (1024, 128)
    assert "features: test" in capsys.readouterr().err
