"""``benchmarks/downstream.py`` end to end on real Fashion-MNIST (``--quick``: one seed, k=10)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "downstream.py"


@pytest.mark.slow
def test_quick_run_scores_every_condition_and_tune_reports_validation_only(
    tmp_path, data_root, fmnist_train, fmnist_test
):
    out = tmp_path / "quick.json"
    common = ["--quick", "--root", str(data_root), "--workdir", str(tmp_path / "gans")]
    r = subprocess.run(
        [sys.executable, str(SCRIPT), *common, "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr
    runs = json.loads(out.read_text())["results"]["10"]
    conditions = ["a real", "b real+aug", "c real+syn", "d aug+syn", "d +DRS", "d +conf"]
    for name in [*conditions, "d +teacher"]:
        assert 0.5 < runs[0][name] <= 1.0, (name, runs[0][name])  # chance is 0.1
    assert "| 10 | 1 |" in r.stdout  # the markdown table
    (gan,) = (tmp_path / "gans").glob("*.safetensors")
    trained = gan.stat().st_mtime_ns
    tuned = tmp_path / "tune.json"
    r = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            *common,
            "--tune",
            "--tune-shares",
            "0.25",
            "--json",
            str(tuned),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr
    val = json.loads(tuned.read_text())["results"]["10"][0]
    assert len(val) == 2 + 2 * 4 and all(0.0 <= v <= 1.0 for v in val.values())
    assert "val" in r.stdout and "(20 images)" in r.stdout  # k // 5 = 2 per class held out
    assert gan.stat().st_mtime_ns == trained  # --tune reused the GAN file (same k, seed, settings)
