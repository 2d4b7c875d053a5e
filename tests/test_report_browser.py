"""The HTML report in a real browser (slow: `pytest -m slow`): headless Chromium renders it."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
import torch

from ganaug.data import to_tensors
from ganaug.metrics import domain_classifier, evaluate


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], env=env, check=False)
        found = shutil.which("chromium")
    if found is None:
        pytest.skip("needs Debian's chromium package (apt-get install chromium)")
    return found


@pytest.mark.slow
def test_report_renders_in_headless_chromium(tmp_path, fmnist_train, fmnist_test, data_root):
    from PIL import Image

    browser = _chromium()
    x, y = to_tensors(fmnist_train)
    clf = domain_classifier(x, y, cache_dir=tmp_path / "classifiers")
    xt = torch.as_tensor(np.asarray(fmnist_test.data))[:, None]
    yt = torch.as_tensor(np.asarray(fmnist_test.targets))
    out = tmp_path / "report"
    evaluate(
        (xt[5000:5500], yt[5000:5500]),
        "fashion-mnist",
        n=500,
        root=data_root,
        classifier=clf,
        cas=False,
        report=out,
    )
    shot = tmp_path / "shot.png"
    r = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={shot}",
            "--window-size=1200,2000",
            (out / "index.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert shot.exists(), r.stderr[-2000:]
    with Image.open(shot) as im:
        assert im.size == (1200, 2000)
        pixels = np.asarray(im.convert("L"), dtype=np.float64)
    assert (pixels < 200).mean() > 0.02, "the page rendered blank"  # text, tables and images
    assert pixels.std() > 20
