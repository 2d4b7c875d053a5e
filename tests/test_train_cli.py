"""``ganaug train`` as a real subprocess: the CLI, torchrun DDP with 2 CPU processes, bad input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import ganaug

TINY = [
    "--arch",
    "mlp",
    "--arch-args",
    '{"g_hidden": [32, 64], "d_hidden": [64, 32]}',
    "--batch-size",
    "16",
    "--log-every",
    "2",
    "--no-progress",
]


@pytest.fixture(scope="module")
def npz(tmp_path_factory, fmnist_train):
    path = tmp_path_factory.mktemp("cli") / "fm256.npz"
    np.savez(
        path, images=fmnist_train.data[:256].numpy(), labels=fmnist_train.targets[:256].numpy()
    )
    return path


def _run(*args, cwd=None, timeout=240):
    return subprocess.run(
        [sys.executable, "-m", "ganaug", "train", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


def test_cli_trains_and_writes_a_loadable_model(tmp_path, npz):
    r = _run(npz, "--out", tmp_path / "m.safetensors", "--steps", "4", "--loss", "lsgan", *TINY)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"wrote {tmp_path / 'm.safetensors'}"
    assert f"run folder {tmp_path / 'm.run'}" in r.stderr  # where checkpoints and grids go
    gen = ganaug.load(tmp_path / "m.safetensors")
    assert gen.num_classes == 10 and gen.provenance["steps"] == 4
    config = json.loads((tmp_path / "m.run" / "config.json").read_text())
    assert config["train"]["loss"] == "lsgan" and config["runtime"]["world_size"] == 1


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_ddp_with_two_cpu_processes(tmp_path, npz):
    out = tmp_path / "ddp.safetensors"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        str(_free_port()),
        "-m",
        "ganaug",
        "train",
        str(npz),
        "--out",
        str(out),
        "--steps",
        "4",
        "--checkpoint-every",
        "2",
        *TINY,
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("wrote ") == 1  # rank 0 alone reports and writes
    config = json.loads((tmp_path / "ddp.run" / "config.json").read_text())
    assert config["runtime"]["world_size"] == 2
    with open(tmp_path / "ddp.run" / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    # 2 processes x 16 images per step: 4 steps = 128 of 256 images = half an epoch
    assert [(r["step"], r["epoch"]) for r in rows] == [("2", "0.25"), ("4", "0.5")]
    mf = ganaug.read_model_file(out)
    assert all(torch.isfinite(t).all() for t in mf.generator_state.values())
    assert torch.load(tmp_path / "ddp.run" / "checkpoint.pt", weights_only=True)["step"] == 4
    # a checkpoint written under 2 processes cannot be resumed by one (another configuration)
    r = _run(npz, "--out", out, "--steps", "6", "--resume", *TINY)
    assert r.returncode == 2 and "world_size: checkpoint 2, now 1" in r.stderr


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--loss", "wasserstein"], "unknown loss 'wasserstein'"),
        (["--arch-args", "[1, 2]"], "expected --arch-args as a JSON object"),
        (["--image-size", "0"], "image_size"),
    ],
)
def test_cli_bad_options_exit_2_with_a_message(tmp_path, npz, extra, message):
    r = _run(npz, "--out", tmp_path / "m.safetensors", "--steps", "1", *TINY, *extra)
    assert r.returncode == 2 and message in r.stderr, r.stderr


def test_cli_bad_data_exit_2_with_a_message(tmp_path):
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    r = _run(tmp_path / "empty", "--out", tmp_path / "m.safetensors", "--steps", "1", *TINY)
    assert r.returncode == 2 and "no valid file" in r.stderr
    (tmp_path / "x.npz").write_bytes(b"garbage")
    r = _run(tmp_path / "x.npz", "--out", tmp_path / "m.safetensors", "--steps", "1", *TINY)
    assert r.returncode == 2 and "not a readable .npz file" in r.stderr


def test_cli_refuses_another_run_folder_and_resumes_its_own(tmp_path, npz):
    args = [npz, "--out", tmp_path / "m.safetensors", *TINY]
    assert _run(*args, "--steps", "2").returncode == 0
    r = _run(*args, "--steps", "2")
    assert r.returncode == 2 and "already holds files" in r.stderr and "--overwrite" in r.stderr
    r = _run(*args, "--steps", "4", "--resume")
    assert r.returncode == 0, r.stderr
    assert ganaug.load(tmp_path / "m.safetensors").provenance["steps"] == 4
    r = _run(*args, "--steps", "6", "--resume", "--loss", "hinge")
    assert r.returncode == 2 and "another configuration" in r.stderr
