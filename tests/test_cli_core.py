"""``ganaug info`` / ``ganaug sample`` as real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image


def ganaug_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ganaug", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_help_lists_commands_and_options():
    top = ganaug_cli("--help")
    assert top.returncode == 0 and "info" in top.stdout and "sample" in top.stdout
    sample = ganaug_cli("sample", "--help")
    for option in ("--n", "--out", "--labels", "--seed", "--nrow", "--device"):
        assert option in sample.stdout


def test_info_json(cond_model_path):
    r = ganaug_cli("info", str(cond_model_path), "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["config"]["arch"] == "dcgan" and info["config"]["num_classes"] == 10
    assert len(info["sha256"]) == 64 and info["generator_params"] > 0
    text = ganaug_cli("info", str(cond_model_path))
    assert "image shape  (1, 28, 28)" in text.stdout and "provenance" in text.stdout


def test_sample_writes_a_png_grid(tmp_path, cond_model_path):
    out = tmp_path / "grid.png"
    r = ganaug_cli(
        "sample", str(cond_model_path), "--n", "20", "--labels", "balanced", "--out", str(out)
    )
    assert r.returncode == 0, r.stderr
    img = Image.open(out)
    # 10 per row (one per class), 2 rows, 28 px + 2 px padding
    assert img.size == (10 * 30 + 2, 2 * 30 + 2)
    again = tmp_path / "again.png"
    ganaug_cli(
        "sample", str(cond_model_path), "--n", "20", "--labels", "balanced", "--out", str(again)
    )
    assert out.read_bytes() == again.read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["info", "missing.safetensors"], "no model file at"),
        (["sample", "{uncond}", "--labels", "3"], "this model is unconditional"),
        (["sample", "{cond}", "--labels", "12"], r"labels must be in [0, 9]"),
        (["sample", "{cond}", "--n", "0"], "expected n > 0"),
        (["sample", "{cond}", "--labels", "cats"], "expected --labels"),
        (["info", "{pt}"], "never unpickles"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path, cond_model_path, uncond_model_path, args, message):
    pt = tmp_path / "model.pt"
    pt.write_bytes(b"\x80\x04\x95")
    paths = {"cond": cond_model_path, "uncond": uncond_model_path, "pt": pt}
    args = [a.format(**paths) for a in args]
    r = (
        ganaug_cli(*args, "--out", str(tmp_path / "x.png"))
        if args[0] == "sample"
        else ganaug_cli(*args)
    )
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_info_refuses_weights_that_do_not_match_their_config(tmp_path):
    from ganaug.sources import read_model_file

    from .conftest import make_model_file
    from .test_modelfile import _with_config

    small = make_model_file(tmp_path / "a.safetensors", arch="dcgan", g_width=32)
    bad = tmp_path / "b.safetensors"
    _with_config(
        bad, small, read_model_file(small).config.to_dict() | {"arch_args": {"g_width": 64}}
    )
    r = ganaug_cli("info", str(bad))
    assert r.returncode == 2 and "do not match the architecture" in r.stderr, r.stderr


def test_info_says_nothing_of_a_normalisation_the_model_does_not_have(cond_model_path):
    r = ganaug_cli("info", str(cond_model_path))
    assert r.returncode == 0 and "normalize" not in r.stdout


@pytest.mark.parametrize(
    ("command", "option", "shown"),
    [
        ("train", "--loss", "hinge"),
        ("train", "--root", "~/.cache/ganaug/data"),
        ("train", "--workers", "0"),
        ("train", "--eval-every", "0"),
        ("train", "--device", "cpu"),
        ("train", "--seed", "0"),
        ("train", "--mode-seeking", "0.0"),
        ("eval", "--cas-epochs", "150,000 image passes"),
        ("eval", "--root", "~/.cache/ganaug/data"),
        ("eval", "--cache-dir", "~/.cache/ganaug/classifiers"),
        ("export", "--n", "10,000"),
    ],
)
def test_help_shows_every_default(command, option, shown):
    from ganaug.cli import build_parser

    sub = build_parser()._subparsers._group_actions[0].choices[command]
    lines = sub.format_help().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(option + " "))
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if line.strip().startswith("-") or not line.strip():
            break
        block.append(line)
    text = " ".join(" ".join(block).split())
    assert "default" in text and shown in text, text


def test_train_flags_are_made_from_train_config():
    import dataclasses

    from ganaug.cli import build_parser
    from ganaug.training import TrainConfig

    args = build_parser().parse_args(["train", "data.npz", "--out", "m.safetensors"])
    for f in dataclasses.fields(TrainConfig):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        assert getattr(args, f.name) == default, f.name
        assert f.metadata["help"], f.name
    args = build_parser().parse_args(
        ["train", "d.npz", "--out", "m", "--unconditional", "--arch-args", '{"g_width": 8}']
    )
    assert args.conditional is False and args.arch_args == {"g_width": 8}
