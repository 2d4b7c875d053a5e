"""AnomalyScorer, the encoder in the model file, ``--filter anomaly`` and ``ganaug score``.

The fixture is a real short run: ``ganaug.train`` on 4,000 Fashion-MNIST T-shirts and trousers
(a class-conditional model of 2 classes), then a short encoder fit. Sneakers and bags, which it
never saw, are the held-out class.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import ganaug
from ganaug.anomaly import AnomalyScorer
from ganaug.data import ImageData, to_tensors
from ganaug.sources import FilteredSource, read_model_file, save
from tests.test_cli_core import ganaug_cli

NORMAL = (0, 1)  # T-shirt/top, Trouser
HELD_OUT = (7, 8)  # Sneaker, Bag


def _subset(images, labels, classes, n):
    keep = torch.isin(labels, torch.tensor(classes))
    x, y = images[keep][:n], labels[keep][:n]
    return x, torch.searchsorted(torch.tensor(classes), y)  # classes -> 0..len-1


@pytest.fixture(scope="module")
def fm(fmnist_train, fmnist_test):
    return to_tensors(fmnist_train), to_tensors(fmnist_test)


@pytest.fixture(scope="module")
def two_class(fm, tmp_path_factory) -> tuple[Path, Path]:
    """(the trained model file, the same file with a fitted encoder)."""
    (x, y), _ = fm
    xs, ys = _subset(x, y, NORMAL, 4000)
    data = ImageData(xs, ys, ["T-shirt/top", "Trouser"], "fm-tshirt-trouser")
    tmp = tmp_path_factory.mktemp("anomaly")
    # The thresholds below were measured on this model, the cdcgan default before session 8.
    # With out_width 32 (a better generator at 300 steps) the discriminator score's held-out
    # AUROC measured 0.795: D sits nearer chance against a better G. d_extra (a deeper D, the
    # default since session 13) is pinned to 0 for the same reason: the model the figures are of,
    # and so is LeCam (the default 0.3 since session 17).
    arch_args = {"out_width": 0, "d_extra": 0}
    path = ganaug.train(
        data,
        out=tmp / "two.safetensors",
        steps=300,
        eval_every=0,
        progress=False,
        arch_args=arch_args,
        lecam=0.0,
    )
    scorer = AnomalyScorer(ganaug.load(path)).fit(data, steps=300)
    return path, scorer.save(tmp / "two-enc.safetensors")


@pytest.fixture(scope="module")
def scorer(two_class) -> AnomalyScorer:
    return AnomalyScorer(ganaug.load(two_class[1]))


@pytest.fixture(scope="module")
def test_sets(fm):
    _, (xt, yt) = fm
    normal, labels = _subset(xt, yt, NORMAL, 1000)
    odd, _ = _subset(xt, yt, HELD_OUT, 1000)
    return normal, labels, odd


@pytest.mark.parametrize("method", ["izif", "combined", "discriminator", "complexity"])
def test_noise_and_a_held_out_class_score_higher_than_normal_images(scorer, test_sets, method):
    normal, labels, odd = test_sets
    noise = torch.randint(0, 256, (200, 1, 28, 28), generator=torch.Generator().manual_seed(0))
    default, scorer.method = scorer.method, method
    try:
        s_normal = scorer.score(normal).score  # under the best class: label-free
        s_odd = scorer.score(odd).score
        s_noise = scorer.score(noise.to(torch.uint8)).score
    finally:
        scorer.method = default
    auroc = _auroc(s_normal, s_odd)
    assert auroc > 0.8, f"{method}: held-out class AUROC {auroc:.3f}"
    assert s_noise.median() > s_normal.quantile(0.99), method


def test_detail_is_zero_on_flat_images_and_grows_with_fine_structure():
    from ganaug.anomaly.scorer import detail

    flat = torch.stack([torch.full((3, 28, 28), v) for v in (-1.0, 0.0, 1.0)])
    assert torch.equal(detail(flat), torch.full((3,), 1e-6))  # reflected edges: no border
    ramp = torch.linspace(-1, 1, 28).expand(1, 3, 28, 28)
    checker = (torch.arange(28)[:, None] + torch.arange(28)).remainder(2).float() * 2 - 1
    noise = torch.rand(1, 3, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    d = detail(torch.cat([ramp, checker.expand(1, 3, 28, 28), noise]))
    assert d[0] < 0.01 * d[2] < d[1]  # a smooth ramp has next to none, a checkerboard most
    one = detail(torch.cat([noise[:, :1], torch.zeros(1, 2, 28, 28)], 1))
    assert torch.allclose(one * 3, detail(noise[:, :1]))  # channels apart, then averaged


def test_complexity_ranks_smooth_images_from_elsewhere_above_normal_ones(scorer, test_sets):
    """Upscaled 8x8 digits: smooth, so G reconstructs them closely (izif calls them less odd
    than it should); relative to their own small detail they stand out."""
    from ganaug.data import digits

    normal, _, _ = test_sets
    x = torch.nn.functional.interpolate(
        digits(train=False).images[:300].float(), size=(28, 28), mode="bilinear"
    )
    odd = x.round().clamp(0, 255).to(torch.uint8)
    found, default = {}, scorer.method
    for method in ("izif", "complexity"):
        scorer.method = method
        try:
            found[method] = _auroc(scorer.score(normal).score, scorer.score(odd).score)
        finally:
            scorer.method = default
    assert found["complexity"] > max(0.95, found["izif"] + 0.05), found


def _auroc(normal: torch.Tensor, odd: torch.Tensor) -> float:
    """P(odd scores above normal): the Mann-Whitney form of the AUROC."""
    from sklearn.metrics import roc_auc_score

    truth = np.r_[np.zeros(len(normal)), np.ones(len(odd))]
    return float(roc_auc_score(truth, np.r_[normal.numpy(), odd.numpy()]))


def test_best_class_and_mislabels(scorer, test_sets):
    normal, labels, _ = test_sets
    s = scorer.score(normal, labels)
    assert s.per_class.shape == (len(normal), 2)
    # measured 0.88 after these short runs (chance: 0.5)
    assert (s.best_class == labels).float().mean() > 0.8  # T-shirts and trousers apart
    flipped = 1 - labels[:100]  # every one of these 100 is mislabelled
    bad = scorer.score(normal[:100], flipped)
    assert torch.equal(bad.best_class, s.best_class[:100])
    assert bad.mislabel.median() > s.mislabel.quantile(0.9)
    assert (s.mislabel >= 0).all()
    best = s.under_best_class()
    assert torch.equal(best.score, s.per_class.min(1).values)


def test_the_default_method_is_complexity(scorer):
    from ganaug.cli import build_parser

    assert scorer.method == "complexity"  # benchmarks/RESULTS.md, session 20
    score = build_parser()._subparsers._group_actions[0].choices["score"]
    assert next(a for a in score._actions if a.dest == "method").default == "complexity"


def test_scores_do_not_depend_on_the_batch_and_repeat(scorer, test_sets):
    normal, labels, _ = test_sets
    whole = scorer.score(normal[:300], labels[:300])
    part = scorer.score(normal[37:200], labels[37:200])
    assert torch.equal(whole.per_class[37:200], part.per_class)
    again = scorer.score(normal[:300], labels[:300])
    assert torch.equal(whole.per_class, again.per_class)
    given = scorer.score(normal[:300], labels[:300], all_classes=False)
    assert torch.equal(given.score, whole.score)


def test_the_encoder_survives_a_save_load_round_trip(two_class, scorer, test_sets, tmp_path):
    normal, labels, _ = test_sets
    mf = read_model_file(two_class[1])
    assert mf.encoder_state and mf.encoder_meta["format"] == ganaug.anomaly.ENCODER_FORMAT
    again = AnomalyScorer(ganaug.load(scorer.save(tmp_path / "again.safetensors")))
    a, b = scorer.score(normal[:200], labels[:200]), again.score(normal[:200], labels[:200])
    assert torch.equal(a.per_class, b.per_class)
    assert again.threshold(0.95) == scorer.threshold(0.95)
    fitted = again.meta.fitted
    assert fitted["steps"] == 300 and fitted["images"] == 4000
    # the rest of the file is unchanged: the same generator draws the same bytes
    g0, g1 = ganaug.load(two_class[0]), ganaug.load(two_class[1])
    assert torch.equal(g0.sample(16, seed=3)[0], g1.sample(16, seed=3)[0])


def test_reference_quantiles_match_real_training_scores(scorer, fm):
    (x, y), _ = fm
    xs, ys = _subset(x, y, NORMAL, 4000)
    s = scorer.score(xs[:1000], ys[:1000], all_classes=False).score
    share = float((s > scorer.threshold(0.9)).float().mean())
    assert 0.04 < share < 0.2, share  # about 10% of training images above the 0.9-quantile
    assert scorer.threshold(0.0) <= scorer.threshold(0.5) <= scorer.threshold(1.0)
    with pytest.raises(ValueError, match=r"quantile in \[0, 1\]"):
        scorer.threshold(1.5)


def test_older_files_without_an_encoder_load_and_say_how_to_fit_one(two_class):
    mf = read_model_file(two_class[0])
    assert mf.encoder_state == {} and mf.encoder_meta is None
    plain = AnomalyScorer(ganaug.load(two_class[0]))
    assert not plain.fitted
    with pytest.raises(ValueError, match="no anomaly encoder.*ganaug fit-encoder"):
        plain.score(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    d_only = AnomalyScorer(ganaug.load(two_class[0]), method="discriminator")
    assert d_only.score(torch.zeros(2, 1, 28, 28, dtype=torch.uint8)).score.shape == (2,)


def test_a_file_fitted_before_the_complexity_score_says_how_to_get_its_thresholds(
    two_class, tmp_path
):
    mf = read_model_file(two_class[1])
    meta = json.loads(json.dumps(mf.encoder_meta))
    del meta["reference"]["complexity"]  # what an encoder fitted before session 20 records
    old = save(
        tmp_path / "old.safetensors",
        config=mf.config,
        generator=mf.generator_state,
        discriminator=mf.discriminator_state,
        encoder=mf.encoder_state,
        encoder_meta=meta,
    )
    scorer = AnomalyScorer(ganaug.load(old))
    with pytest.raises(ValueError, match=r"no reference scores for method 'complexity'.*older"):
        scorer.threshold(0.9)
    assert AnomalyScorer(ganaug.load(old), method="izif").threshold(0.9) == pytest.approx(
        AnomalyScorer(ganaug.load(two_class[1]), method="izif").threshold(0.9)
    )


def test_bad_input_gets_clear_errors(scorer, two_class, tmp_path):
    with pytest.raises(ValueError, match=r"expected images of shape \(1, 28, 28\)"):
        scorer.score(torch.zeros(4, 1, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"labels in \[0, 2\).*found 0\.\.5"):
        scorer.score(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), [0, 5])
    with pytest.raises(ValueError, match="at least one image"):
        scorer.score(torch.zeros(0, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(ValueError, match="expected method"):
        AnomalyScorer(ganaug.load(two_class[1]), method="ssim")
    with pytest.raises(ValueError, match=r"training images of shape \(1, 28, 28\)"):
        AnomalyScorer(ganaug.load(two_class[0])).fit("digits", steps=1)
    # encoder tensors without their metadata: refused when read, nothing half-written
    mf = read_model_file(two_class[1])
    bad = tmp_path / "bad.safetensors"
    with pytest.raises(ValueError, match="needs its encoder_meta"):
        save(bad, config=mf.config, generator=mf.generator_state, encoder=mf.encoder_state)
    assert not bad.exists()


def test_anomaly_filter_is_deterministic_by_index_and_drops_high_scores(scorer):
    gen = scorer.generator
    src = FilteredSource(gen, method="anomaly", threshold=0.5, scorer=scorer, max_tries=4)
    whole, y = src.sample(48, labels="balanced", seed=5)
    part, _ = src.sample(20, labels="balanced", seed=5, start=11, batch_size=7)
    assert torch.equal(whole[11:31], part)
    plain, _ = gen.sample(48, labels="balanced", seed=5)
    kept = scorer.score(whole, y, all_classes=False).score
    raw = scorer.score(plain, y, all_classes=False).score
    assert kept.median() < raw.median()
    assert src.describe()["filter"]["max_score"] == scorer.threshold(0.5)
    with pytest.raises(ValueError, match="needs scorer="):
        FilteredSource(gen, method="anomaly")


def test_quality_filter_builds_the_anomaly_filter_from_the_model_file(two_class):
    from ganaug.metrics import quality_filter

    src = quality_filter(ganaug.load(two_class[1]), "anomaly:0.9")
    assert src.method == "anomaly" and src.threshold == 0.9
    with pytest.raises(ValueError, match="no anomaly encoder"):
        quality_filter(ganaug.load(two_class[0]), "anomaly")


def _npz(path: Path, images: torch.Tensor, labels: torch.Tensor | None = None) -> Path:
    arrays = {"images": images[:, 0].numpy()}
    if labels is not None:
        arrays["labels"] = labels.numpy()
    np.savez(path, **arrays)
    return path


def test_score_cli_writes_one_row_per_image_in_order(two_class, scorer, test_sets, tmp_path):
    normal, labels, odd = test_sets
    images = torch.cat([normal[:60], odd[:4]])
    given = torch.cat([labels[:60], torch.zeros(4, dtype=torch.int64)])
    given[:3] = 1 - given[:3]  # three wrong labels
    data = _npz(tmp_path / "d.npz", images, given)
    out, grid = tmp_path / "scores.csv", tmp_path / "worst.png"
    r = ganaug_cli(
        "score", str(data), "--model", str(two_class[1]), "--out", str(out),
        "--top", "8", "--grid", str(grid),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["index", "score", "label", "best_class"]
    assert [int(r["index"]) for r in rows] == list(range(64))
    assert [int(r["label"]) for r in rows] == given.tolist()
    expect = scorer.score(images, given)
    got = torch.tensor([float(r["score"]) for r in rows])
    assert torch.allclose(got, expect.score, rtol=1e-5)
    assert "above" in r.stdout and "most suspicious labels" in r.stdout
    from PIL import Image

    with Image.open(grid) as im:  # 8 images, each beside its reconstruction: 16 tiles a row
        assert im.size == (16 * 30 + 2, 30 + 2)
    best = tmp_path / "best.csv"
    r = ganaug_cli(
        "score", str(data), "--model", str(two_class[1]), "--out", str(best), "--labels", "best"
    )
    assert r.returncode == 0, r.stderr
    scores = [float(r["score"]) for r in csv.DictReader(best.open())]
    assert torch.allclose(torch.tensor(scores), expect.per_class.min(1).values, rtol=1e-5)


def test_info_says_whether_a_model_has_an_encoder(two_class):
    with_encoder = ganaug_cli("info", str(two_class[1]))
    assert with_encoder.returncode == 0, with_encoder.stderr
    assert "fitted 300 steps on 4,000 images" in with_encoder.stdout
    plain = ganaug_cli("info", str(two_class[0]), "--json")
    info = json.loads(plain.stdout)
    assert info["encoder_params"] == 0 and info["encoder_fitted"] is None


def test_score_cli_offers_every_method():
    from ganaug.cli import build_parser

    parser = build_parser()
    score = parser._subparsers._group_actions[0].choices["score"]
    method = next(a for a in score._actions if a.dest == "method")
    assert set(method.choices) == set(ganaug.anomaly.METHODS)


def test_score_cli_bad_inputs(two_class, tmp_path):
    model = ["--model", str(two_class[1])]
    out = str(tmp_path / "s.csv")
    cases = [
        (["digits", *model], r"expected images of shape \(1, 28, 28\)"),
        (["fashion-mnist:test", "--model", str(two_class[0])], "ganaug fit-encoder"),
        ([str(_npz(tmp_path / "l.npz", torch.zeros(3, 1, 28, 28, dtype=torch.uint8),
                   torch.tensor([0, 1, 2]))), *model], r"labels in \[0, 2\).*found 0\.\.2"),
        ([str(_npz(tmp_path / "e.npz", torch.zeros(0, 1, 28, 28, dtype=torch.uint8))), *model],
         "at least one image"),
    ]  # fmt: skip
    for args, message in cases:
        r = ganaug_cli("score", *args, "--out", out)
        assert r.returncode == 2, (args, r.stdout)
        assert re_search(message, r.stderr), (args, r.stderr)
        assert "Traceback" not in r.stderr
    assert not Path(out).exists()


def re_search(pattern: str, text: str) -> bool:
    import re

    return re.search(pattern, text) is not None


def test_fit_encoder_cli_then_export_with_the_anomaly_filter(two_class, fm, tmp_path):
    (x, y), _ = fm
    xs, ys = _subset(x, y, NORMAL, 600)
    data = _npz(tmp_path / "train.npz", xs, ys)
    model = tmp_path / "m.safetensors"
    r = ganaug_cli(
        "fit-encoder", str(data), "--model", str(two_class[0]), "--out", str(model),
        "--steps", "20", "--no-progress",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "encoder fitted for 20 steps" in r.stdout
    assert read_model_file(model).encoder_meta["fitted"]["images"] == 600
    h5 = tmp_path / "s.h5"
    r = ganaug_cli(
        "export", "--model", str(model), "--n", "32", "--out", str(h5), "--filter", "anomaly:0.9"
    )
    assert r.returncode == 0, r.stderr
    import h5py

    with h5py.File(h5) as f:
        assert f["images"].shape == (32, 28, 28, 1)
        attrs = json.dumps({k: str(v) for k, v in f.attrs.items()})
    assert "anomaly" in attrs


@pytest.mark.slow
def test_the_benchmark_runs_end_to_end_in_quick_mode(tmp_path):
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "anomaly.py"
    out = tmp_path / "anomaly.json"
    r = subprocess.run(
        [sys.executable, str(script), "--quick", "--no-bundled", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    rows = json.loads(out.read_text())
    methods = {*ganaug.anomaly.METHODS, "ocsvm", "knn", "pca"}
    found = {(row["class"], row["method"]) for row in rows}
    assert found == {(c, m) for c in (0, 1) for m in methods}
    assert all(0.0 <= row["auroc"] <= 1.0 for row in rows)
    assert "mean AUROC izif" in r.stdout


def test_the_bundled_model_records_reference_scores_for_every_method():
    path = ganaug.sources.resolve_model_path("fashion-mnist")
    meta = read_model_file(path).encoder_meta
    assert set(meta["reference"]) == set(ganaug.anomaly.METHODS)  # thresholds for each
    assert path.stat().st_size <= 8 * 10**6  # the limit for the shipped file
