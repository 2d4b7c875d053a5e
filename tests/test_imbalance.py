"""``benchmarks/imbalance.py``: the protocol's subsets, what each condition's sampler, loss and
oversampler does, and (slow) the ``--quick`` run end to end on real Fashion-MNIST."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import ganaug
from ganaug.data import ImageData

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "imbalance.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("imbalance_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def full(fmnist_train) -> ImageData:
    return ImageData(
        fmnist_train.data[:, None].clone(),
        fmnist_train.targets.clone(),
        list(fmnist_train.classes),
        "fashion-mnist",
    )


@pytest.mark.parametrize(
    "protocol, order", [("deepsmote", range(10)), ("hard-rare", (1, 7, 9, 8, 5, 3, 2, 4, 0, 6))]
)
def test_subset_counts_match_the_protocol(bench, full, protocol, order):
    counts = (4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40)
    tr, va = bench.imbalanced_split(full, bench.class_counts(protocol), seed=0)
    assert len(tr) + len(va) == 9000
    per_class = torch.bincount(tr.labels, minlength=10) + torch.bincount(va.labels, minlength=10)
    assert {c: int(per_class[c]) for c in order} == dict(zip(order, counts, strict=True))
    val = torch.bincount(va.labels, minlength=10)
    assert {c: int(val[c]) for c in order} == {
        c: round(n / 5) for c, n in zip(order, counts, strict=True)
    }
    # no image in both parts, and every image a real one of its class
    seen = {bytes(im.numpy()) for im in tr.images}
    assert not any(bytes(im.numpy()) in seen for im in va.images)
    again, _ = bench.imbalanced_split(full, bench.class_counts(protocol), seed=0)
    other, _ = bench.imbalanced_split(full, bench.class_counts(protocol), seed=1)
    assert torch.equal(again.images, tr.images)  # a seed's subset is fixed...
    assert not torch.equal(other.images, tr.images)  # ...and each seed draws its own
    if protocol == "hard-rare":
        smallest = sorted(range(10), key=lambda c: int(per_class[c]))[:4]
        assert {full.class_names[c] for c in smallest} == {
            "Pullover",
            "Coat",
            "T-shirt/top",
            "Shirt",
        }


def test_resampler_yields_balanced_classes_and_plain_keeps_the_imbalance(bench):
    labels = torch.tensor([0] * 900 + [1] * 90 + [2] * 10)
    w = bench.balancing_weights(labels)
    drawn = labels[bench.batch_indices(w, len(labels), steps=200, batch=64, seed=0).flatten()]
    freq = torch.bincount(drawn, minlength=3).double() / drawn.numel()
    assert torch.allclose(freq, torch.full((3,), 1 / 3, dtype=torch.double), atol=0.02), freq
    plain = labels[bench.batch_indices(None, len(labels), steps=200, batch=64, seed=0).flatten()]
    freq = torch.bincount(plain, minlength=3).double() / plain.numel()
    assert torch.allclose(freq, torch.tensor([0.9, 0.09, 0.01], dtype=torch.double), atol=0.01)


def test_logit_adjustment_is_the_log_prior_and_shifts_predictions_to_rare_classes(bench, full):
    counts = bench.class_counts("deepsmote", 0.25)
    tr, _ = bench.imbalanced_split(full, counts, seed=0)
    prior = bench.log_prior(tr.labels, 10)
    freq = torch.bincount(tr.labels, minlength=10).float() / len(tr)
    assert torch.allclose(prior.exp(), freq)
    common = {"num_classes": 10, "steps": 150, "seed": 0}
    plain = bench.fit(tr.images, tr.labels, **common)
    test = full.images[-3000:]
    # a constant offset changes no softmax: the plain model up to rounding, so the prior acts
    same = bench.fit(tr.images, tr.labels, adjust=torch.full((10,), 3.0), **common)
    agree = (bench.predict(same, test) == bench.predict(plain, test)).float().mean()
    assert agree > 0.97
    adjusted = bench.fit(tr.images, tr.labels, adjust=prior, **common)
    rare = [7, 8, 9]  # 100, 60 and 40 images: trained with the prior, predicted more often
    share = lambda m: torch.isin(bench.predict(m, test), torch.tensor(rare)).float().mean()  # noqa: E731
    assert share(adjusted) > share(plain) + 0.02


def test_smote_keeps_the_real_rows_and_balances_with_in_class_interpolations(bench, full):
    tr, _ = bench.imbalanced_split(full, bench.class_counts("hard-rare", 0.1), seed=0)
    x, y = bench.smote(tr, seed=0)
    top = int(torch.bincount(tr.labels).max())
    assert torch.bincount(y, minlength=10).tolist() == [top] * 10
    assert x.dtype == torch.uint8 and x.shape[1:] == tr.images.shape[1:]
    assert torch.equal(x[: len(tr)], tr.images) and torch.equal(y[: len(tr)], tr.labels)
    # each new row lies within its class's pixel range (an interpolation of two of its rows)
    for c in range(10):
        real = tr.images[tr.labels == c].float()
        new = x[len(tr) :][y[len(tr) :] == c].float()
        if len(new):
            assert (new >= real.min(0).values - 1).all() and (new <= real.max(0).values + 1).all()


def test_ganaug_topup_adds_the_asked_counts_after_the_same_real_rows(bench, full, gen):
    tr, _ = bench.imbalanced_split(full, bench.class_counts("deepsmote", 0.05), seed=0)
    counts = torch.bincount(tr.labels, minlength=10)
    five = bench.topup("5x", tr.labels)
    assert five == {c: min(int(counts.max()), 5 * int(n)) for c, n in enumerate(counts)}
    two = bench.topup("2x", tr.labels)
    assert two == {c: min(int(counts.max()), 2 * int(n)) for c, n in enumerate(counts)}
    every = bench.topup("2x every class", tr.labels)  # uncapped: every class half synthetic
    assert every == {c: 2 * int(n) for c, n in enumerate(counts)}
    cases = (("auto", [int(counts.max())] * 10), (five, list(five.values())))
    for strategy, want in (*cases, (every, list(every.values()))):
        x, y = bench.augmented(tr, gen, strategy, seed=1000)
        assert torch.bincount(y, minlength=10).tolist() == want
        assert torch.equal(x[: len(tr)], tr.images) and torch.equal(y[: len(tr)], tr.labels)
        assert x.shape[0] == y.shape[0] and x.dtype == torch.uint8
    again, _ = bench.augmented(tr, gen, "auto", seed=1000)
    x, _ = bench.augmented(tr, gen, "auto", seed=1000)
    assert torch.equal(again, x)  # synthetic rows by (seed, index): the same every time


def test_fine_tune_starts_from_the_model_it_is_given_and_leaves_it_unchanged(bench, full):
    tr, _ = bench.imbalanced_split(full, bench.class_counts("deepsmote", 0.05), seed=0)
    common = {"num_classes": 10, "seed": 0}
    pre = bench.fit(tr.images, tr.labels, steps=30, **common)
    before = {k: v.clone() for k, v in pre.state_dict().items()}
    tuned = bench.fit(tr.images, tr.labels, steps=1, init=pre, max_lr=1e-6, **common)
    fresh = bench.fit(tr.images, tr.labels, steps=1, max_lr=1e-6, **common)
    for k, v in pre.state_dict().items():
        assert torch.equal(v, before[k]), k  # the pretrained model is not modified
    w = "body.0.weight"  # the first convolution
    assert (tuned.state_dict()[w] - before[w]).abs().max() < 1e-4  # one tiny step from init
    assert (fresh.state_dict()[w] - before[w]).abs().max() > 1e-2  # not from a new model


def test_pretrain_fine_tune_splits_the_budget_and_fine_tunes_on_real_rows_only(bench, monkeypatch):
    calls, lrs = [], []
    real_fit = bench.fit

    def spy(images, labels, **kw):
        calls.append((len(images), kw["steps"], kw.get("init"), kw.get("aug"), kw["weights"]))
        lrs.append(kw.get("max_lr", bench.LR))
        return real_fit(images, labels, **{**kw, "steps": 1})

    monkeypatch.setattr(bench, "fit", spy)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (40, 1, 28, 28), dtype=torch.uint8, generator=g)
    y = torch.tensor([0] * 30 + [1] * 10)
    xa, ya = torch.cat([x, x[30:]]), torch.cat([y, y[30:]])  # 10 "synthetic" rows of class 1
    bench.pretrain_fine_tune(xa, ya, x, y, num_classes=2, steps=1500, seed=0, fine_tune=1 / 3)
    (n_pre, s_pre, init_pre, aug_pre, w_pre), (n_ft, s_ft, init_ft, aug_ft, w_ft) = calls
    assert (n_pre, n_ft) == (50, 40)  # topped-up rows first, then the real rows alone
    assert (s_pre, s_ft) == (1000, 500)  # the same 1,500-step budget as every condition
    assert init_pre is None and init_ft is not None and aug_pre and aug_ft
    assert torch.equal(w_pre, bench.balancing_weights(ya))  # both parts class-balanced
    assert torch.equal(w_ft, bench.balancing_weights(y))
    assert lrs == [bench.LR, bench.LR / 2]  # the fine-tune peaks at half the learning rate
    calls.clear(), lrs.clear()
    bench.pretrain_fine_tune(
        xa, ya, x, y, num_classes=2, steps=1500, seed=0, fine_tune=1 / 4, fine_tune_lr=5e-4
    )
    assert [c[1] for c in calls] == [1125, 375] and lrs == [bench.LR, 5e-4]


def test_pretrain_variants_name_their_level_share_and_learning_rate(bench):
    settings = set(bench.PRETRAIN.values())
    assert len(settings) == len(bench.PRETRAIN) == 8  # no two names for one setting
    assert bench.PRETRAIN["ganaug 2x pretrain, real fine-tune"] == ("2x", 1 / 3, bench.LR / 2)
    assert bench.PRETRAIN["ganaug auto pretrain, real fine-tune 1/2"] == ("auto", 0.5, bench.LR / 2)
    assert bench.PRETRAIN["ganaug 2x pretrain, real fine-tune LR/4"][1:] == (1 / 3, bench.LR / 4)
    assert set(bench.PRETRAIN) <= set(bench.GAN_VARIANTS)


def test_summary_picks_on_validation_and_states_the_verdict(bench):
    rows = []
    for seed in range(3):
        for c in bench.CONDITIONS:
            good = c == "ganaug +resample +aug"
            v = 0.9 if good else 0.8
            rows.append(
                {
                    "protocol": "deepsmote",
                    "condition": c,
                    "seed": seed,
                    "acsa": v + 0.001 * seed,
                    "gm": v,
                    "f1": v,
                    "minority_acc": v,
                    "val_acsa": v + (0.05 if c == "smote" else 0.0),
                    "val_minority_acc": v,
                }
            )
    text, verdict = bench.summary(rows, "deepsmote")
    assert verdict["best_baseline"] == "smote" and verdict["best_ganaug"] == "ganaug +resample +aug"
    assert verdict["acsa"]["met"] and abs(verdict["acsa"]["gap"] - 10.0) < 1e-6
    assert "| ganaug +resample +aug | 90.10 ± 0.10 |" in text
    assert "+10.00 ± 0.00" in text
    _, two = bench.summary([r for r in rows if r["seed"] < 2], "deepsmote")
    assert two["acsa"]["gap"] > 9 and not two["acsa"]["met"]  # fewer than 3 seeds: no verdict


@pytest.mark.slow
def test_quick_run_scores_every_condition_on_both_protocols(tmp_path, data_root, fmnist_train):
    out = tmp_path / "quick.json"
    cmd = [sys.executable, str(SCRIPT), "--quick", "--root", str(data_root)]
    refused = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "--quick needs --json" in refused.stderr
    r = subprocess.run(
        [*cmd, "--json", str(out), "--workdir", str(tmp_path / "gans")],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert r.returncode == 0, r.stderr
    rows = json.loads(out.read_text())
    spec = importlib.util.spec_from_file_location("imbalance_bench_q", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for protocol in ("deepsmote", "hard-rare"):
        mine = [r for r in rows if r["protocol"] == protocol]
        assert [r["condition"] for r in mine] == list(bench.CONDITIONS)
        for row in mine:
            assert row["seed"] == 0
            for m in ("acsa", "gm", "f1", "minority_acc"):
                assert 0.0 <= row[m] <= 1.0
            assert row["condition"].startswith("ganaug") == (
                row["condition"] in bench.GAN_BASES + bench.GAN_VARIANTS
            )
        plain = next(r for r in mine if r["condition"] == "plain")
        assert plain["acsa"] > 0.4  # 60 steps on a quarter of the images: well above chance
        assert f"### {protocol} (1 seeds: [0])" in r.stdout
    gans = list((tmp_path / "gans").glob("*.safetensors"))
    assert len(gans) == 2 * len(bench.GAN_RECIPES)  # every recipe, two protocols
    for path in gans:  # each file was trained with its recipe's architecture options
        shared = "-shared-" in path.name
        assert ganaug.load(path).config.arch_args.get("cond_dim", 0) == (
            bench.SHARED_DIM if shared else 0
        ), path.name


def test_teacher_targets_keep_real_rows_hard_and_mix_synthetic_ones(bench):
    torch.manual_seed(0)
    teacher = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 3)).eval()
    x = torch.randint(0, 256, (10, 1, 28, 28), dtype=torch.uint8)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 2, 2, 1, 0])
    t = bench.teacher_targets(teacher, x, y, n_real=6, k=3)
    assert t.shape == (10, 3) and torch.allclose(t.sum(1), torch.ones(10))
    assert torch.equal(t[:6], torch.nn.functional.one_hot(y[:6], 3).float())  # real: hard
    with torch.no_grad():
        probs = teacher(x[6:].float() / 127.5 - 1).softmax(1)
    want = bench.TEACHER * torch.nn.functional.one_hot(y[6:], 3).float()
    assert torch.allclose(t[6:], want + (1 - bench.TEACHER) * probs)
    assert (t[6:].gather(1, y[6:, None]) >= bench.TEACHER).all()  # the class keeps its share


def test_fit_trains_on_soft_targets_when_given(bench):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (32, 1, 28, 28), dtype=torch.uint8, generator=g)
    y = torch.tensor([0, 1] * 16)
    hard = bench.fit(x, y, num_classes=2, steps=3, seed=0)
    onehot = bench.fit(
        x, y, num_classes=2, steps=3, seed=0, targets=torch.nn.functional.one_hot(y, 2).float()
    )
    flipped = bench.fit(
        x, y, num_classes=2, steps=3, seed=0, targets=torch.nn.functional.one_hot(1 - y, 2).float()
    )
    for k, v in hard.state_dict().items():
        assert torch.allclose(v, onehot.state_dict()[k], atol=1e-6), k  # one-hot = hard labels
    w = next(iter(hard.state_dict()))
    assert not torch.allclose(hard.state_dict()[w], flipped.state_dict()[w])


def test_class_share_counts_what_the_judge_puts_in_each_class(bench):
    class Brightness(torch.nn.Module):  # judges by mean pixel: dark -> 0, mid -> 1, bright -> 2
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            m = x.mean(dim=(1, 2, 3))
            return torch.stack([-(m + 0.5).abs(), -m.abs(), -(m - 0.5).abs()], dim=1)

    levels = torch.tensor([32, 128, 224, 32, 128, 128, 224, 224], dtype=torch.uint8)
    images = levels.view(-1, 1, 1, 1).expand(-1, 1, 4, 4).contiguous()
    labels = torch.tensor([0, 1, 2, 1, 1, 2, 2, 0])
    # class 0: 1 of 2 judged 0; class 1: 2 of 3 (the dark one is not); class 2: 2 of 3
    assert bench.class_share(Brightness(), images, labels, 3) == pytest.approx([0.5, 2 / 3, 2 / 3])


@pytest.mark.parametrize("protocol", ["deepsmote", "hard-rare"])
def test_ceiling_tops_up_with_real_images_from_outside_the_subset(bench, full, protocol):
    counts = bench.class_counts(protocol)
    tr, va = bench.imbalanced_split(full, counts, seed=2)
    for level in ("2x", "auto"):
        want = bench.resolve_sampling_strategy(
            bench.topup(level, tr.labels), tr.labels, num_classes=10
        )
        more = bench.extra_real(full, counts, 2, want)
        got = torch.bincount(more.labels, minlength=10).tolist()
        assert got == [want.get(c, 0) for c in range(10)]
        topped = torch.bincount(torch.cat([tr.labels, more.labels]), minlength=10)
        top = int(torch.bincount(tr.labels).max())
        if level == "auto":
            assert topped.tolist() == [top] * 10  # every class as large as the largest
        else:  # each class doubled, at most the largest
            n = torch.bincount(tr.labels, minlength=10)
            assert topped.tolist() == [min(top, 2 * int(v)) for v in n]
        # real Fashion-MNIST images of the class they are labelled with, none in the subset
        subset = {bytes(im.numpy()) for im in torch.cat([tr.images, va.images])}
        assert not any(bytes(im.numpy()) in subset for im in more.images)
        for im, c in zip(more.images[::50], more.labels[::50], strict=True):
            hits = (full.images == im).flatten(1).all(1)
            assert hits.any() and int(c) in full.labels[hits].tolist()
    again = bench.extra_real(full, counts, 2, {9: 5})
    assert torch.equal(again.images, bench.extra_real(full, counts, 2, {9: 5}).images)
    with pytest.raises(ValueError, match="only"):  # 6,000 per class: 4,000 used, 2,000 left
        bench.extra_real(full, counts, 2, {bench.PROTOCOLS[protocol][0]: 2001})


def test_ceiling_adds_what_the_ganaug_topup_adds(bench, full, gen):
    tr, _ = bench.imbalanced_split(full, bench.class_counts("hard-rare", 0.05), seed=0)
    for level in ("2x", "auto"):
        strategy = bench.topup(level, tr.labels)
        _, y = bench.augmented(tr, gen, strategy, seed=1000)
        want = torch.bincount(y[len(tr) :], minlength=10)
        got = bench.resolve_sampling_strategy(strategy, tr.labels, num_classes=10)
        assert [got.get(c, 0) for c in range(10)] == want.tolist() and want.sum() > 0


def test_summary_states_the_ceiling_and_runs_without_ganaug_rows(bench):
    rows = []
    for seed in range(3):
        for c, v in (("resample +aug", 0.80), ("extra real 2x +resample +aug", 0.83)):
            for c2 in (c,) if c != "resample +aug" else (c, "plain"):
                rows.append(
                    {
                        "protocol": "hard-rare",
                        "condition": c2,
                        "seed": seed,
                        "acsa": v if c2 == c else 0.7,
                        "gm": v,
                        "f1": v,
                        "minority_acc": v + 0.01,
                        "val_acsa": v if c2 == c else 0.7,
                        "val_minority_acc": v,
                    }
                )
    text, verdict = bench.summary(rows, "hard-rare")
    assert verdict["best_baseline"] == "resample +aug" and verdict["best_ganaug"] is None
    gain = verdict["ceiling"]["extra real 2x +resample +aug"]
    assert gain["acsa"] == pytest.approx(3.0) and gain["minority_acc"] == pytest.approx(3.0)
    assert (
        "Ceiling, extra real 2x +resample +aug (real images, not a generator): ACSA +3.00" in text
    )
    assert "no ganaug rows" in text and "MET" not in text


def test_row_weights_scale_each_rows_loss(bench):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (32, 1, 28, 28), dtype=torch.uint8, generator=g)
    y = torch.tensor([0, 1] * 16)
    common = {"num_classes": 2, "steps": 3, "seed": 0}
    plain = bench.fit(x, y, **common).state_dict()
    ones = bench.fit(x, y, row_weight=torch.ones(32), **common).state_dict()
    half = bench.fit(x, y, row_weight=torch.full((32,), 0.5), **common).state_dict()
    zero = bench.fit(x, y, row_weight=torch.zeros(32), **common).state_dict()
    init = bench.fit(x, y, max_lr=0.0, **common).state_dict()  # the same batches, never a step
    for k in plain:
        assert torch.allclose(plain[k], ones[k], atol=1e-6), k  # weight 1 = the plain loss
        assert torch.equal(zero[k], init[k]), k  # weight 0 everywhere: no row moves the model
    moved = [k for k in plain if not torch.equal(plain[k], init[k])]
    assert moved and any(not torch.allclose(plain[k], half[k]) for k in moved)
    # per row: with only one class's rows weighted, the model learns that class alone
    longer = {**common, "steps": 20}
    share = (bench.predict(bench.fit(x, y, **longer), x) == 0).float().mean()
    assert 0 < share < 1  # unweighted, both classes are predicted
    for c in (0, 1):
        model = bench.fit(x, y, row_weight=(y == c).float(), **longer)
        assert (bench.predict(model, x) == c).all()


def test_entropy_pick_keeps_the_least_certain_samples_of_each_class(bench, gen):
    torch.manual_seed(0)
    judge = bench.DomainClassifier(image_shape=(1, 28, 28), num_classes=10).eval()
    need = {0: 3, 6: 5}
    xs, ys = bench.entropy_pick(gen, judge, need, seed=7)
    assert torch.bincount(ys, minlength=10).tolist() == [3, 0, 0, 0, 0, 0, 5, 0, 0, 0]
    assert xs.dtype == torch.uint8 and xs.shape == (8, 1, 28, 28)
    pool = torch.cat([torch.full((bench.ENTROPY_POOL * n,), c) for c, n in need.items()])
    px, py = gen.sample(len(pool), labels=pool, seed=7)  # the candidates it chose among
    h = bench.entropy_under(judge, px)
    for c, n in need.items():
        want = h[py == c].sort(descending=True).values[:n]
        assert torch.allclose(
            bench.entropy_under(judge, xs[ys == c]).sort(descending=True).values, want
        )
    x2, _ = bench.entropy_pick(gen, judge, need, seed=7)
    assert torch.equal(xs, x2)
    flat = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 4))
    torch.nn.init.zeros_(flat[1].weight)
    torch.nn.init.zeros_(flat[1].bias)
    u = bench.entropy_under(flat, xs)  # equal logits: the uniform softmax, entropy log 4
    assert torch.allclose(u, torch.full_like(u, math.log(4)))


def test_reuse_files_add_up_when_the_flag_is_repeated(bench):
    args = bench.parser().parse_args(["--reuse", "a.json", "b.json", "--reuse", "c.json"])
    assert args.reuse == ["a.json", "b.json", "c.json"]
    assert bench.parser().parse_args([]).reuse == []  # the default list is not shared
