"""``benchmarks/downstream.py`` end to end on real Fashion-MNIST (``--quick``: one seed, k=10)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "downstream.py"


def downstream(*args: str, json_out: Path) -> tuple[str, dict]:
    """Run the script as a subprocess; its stdout and the ``--json`` file's per-k results."""
    r = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--json", str(json_out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout, json.loads(json_out.read_text())["results"]


@pytest.mark.slow
def test_quick_run_scores_every_condition_and_tune_reports_validation_only(
    tmp_path, data_root, fmnist_train, fmnist_test
):
    common = ["--quick", "--root", str(data_root), "--workdir", str(tmp_path / "gans")]
    stdout, results = downstream(*common, json_out=tmp_path / "quick.json")
    runs = results["10"]
    conditions = ["a real", "b real+aug", "c real+syn", "d aug+syn", "d +DRS", "d +conf"]
    for name in [*conditions, "d +teacher"]:
        assert 0.5 < runs[0][name] <= 1.0, (name, runs[0][name])  # chance is 0.1
    assert 0.15 < runs[0]["CAS syn only"] < runs[0]["a real"]  # 200-step GAN: above chance
    assert "| 10 | 1 |" in stdout  # the markdown table
    assert "minus (b) on the same seed" in stdout  # and the per-seed differences
    (gan,) = (tmp_path / "gans").glob("*.safetensors")
    assert "k=10-all" in gan.name  # the test scores' GAN saw all k images per class
    trained = gan.stat().st_mtime_ns
    tune = [*common, "--tune", "--tune-shares", "0.25"]
    vals = []
    for attempt in ("a", "b"):
        stdout, results = downstream(*tune, json_out=tmp_path / f"tune-{attempt}.json")
        vals.append(results["10"][0])
        assert "val" in stdout and "(20 images)" in stdout  # k // 5 = 2 per class held out
        if attempt == "a":
            (tune_gan,) = set((tmp_path / "gans").glob("*.safetensors")) - {gan}
            assert "k=10-train" in tune_gan.name  # trained without the validation images
            tune_trained = tune_gan.stat().st_mtime_ns
    assert len(vals[0]) == 2 + 2 * 4 and all(0.0 <= v <= 1.0 for v in vals[0].values())
    assert vals[0] == vals[1]  # same command, same figures
    assert tune_gan.stat().st_mtime_ns == tune_trained  # the second --tune reused its GAN
    assert gan.stat().st_mtime_ns == trained  # and neither touched the test scores' GAN
