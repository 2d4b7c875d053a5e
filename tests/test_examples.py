"""The examples run (slow: `pytest -m slow`); the Lightning one needs the 'examples' extra."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.slow
def test_lightning_example_mixes_synthetic_rows_in_on_after_batch_transfer():
    pytest.importorskip("lightning", reason="pip install 'ganaug[examples]'")
    r = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "lightning_mixer.py"),
            "--limit-batches",
            "40",
            "--real",
            "5120",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    acc = float(r.stdout.rsplit("validation accuracy (2,000 real test images): ", 1)[1].split()[0])
    assert acc > 0.6, r.stdout  # 40 batches of 128 real + 64 synthetic rows
