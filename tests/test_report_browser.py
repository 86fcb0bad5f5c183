"""The report as a reader sees it: the few-draw main job's report.html rendered by a real
headless browser (Chromium from the system packages), and the screenshot checked: the page has
the size asked for, is not blank, shows the answer box at the top and the figures below it.

Nothing is installed here: without a ``chromium`` (or ``chromium-browser``) on PATH the test is
skipped with the reason (``.ci/run`` installs it before the slow tier)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from nen_bayes.data import BUNDLED_COHORT

pytestmark = pytest.mark.slow

WIDTH, HEIGHT = 1280, 4000
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


def _rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])


def _near(img: np.ndarray, hex_colour: str, tol: int = 12) -> np.ndarray:
    """Pixels within ``tol`` of a colour in every channel."""
    return (np.abs(img.astype(int) - _rgb(hex_colour)) <= tol).all(axis=-1)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser") / "results"
    r = subprocess.run([sys.executable, str(ROOT / "scripts/reanalyse.py"), "--data",
                        str(BUNDLED_COHORT), "--endpoint", "os", "--model",
                        str(ROOT / "models/weibull_ph_centre.toml"), "--draws", "60", "--tune",
                        "60", "--chains", "2", "--no-prior-grid", "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    return out / "report.html"


@pytest.mark.skipif(BROWSER is None, reason="no chromium (or chromium-browser) on PATH; "
                    "install it (Debian: apt-get install chromium) to render the report")
def test_the_report_renders_in_a_headless_browser(report, tmp_path):
    from matplotlib.image import imread

    shot = tmp_path / "report.png"
    r = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
                        f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}",
                        report.resolve().as_uri()],
                       capture_output=True, text=True, timeout=180, check=False)
    assert r.returncode == 0 and shot.exists(), r.stderr[-3000:]
    img = (imread(shot)[..., :3] * 255).round().astype(np.uint8)
    assert img.shape[:2] == (HEIGHT, WIDTH)
    # not blank: text, tables and anti-aliased figures give thousands of distinct colours
    colours = np.unique(img.reshape(-1, 3), axis=0)
    assert len(colours) > 1000, len(colours)
    # the answer box (background #f3f8fc, border #1b6ca8) in the first screenful
    top = img[:900]
    assert _near(top, "#f3f8fc", tol=2).sum() > 100_000
    assert _near(top, "#1b6ca8", tol=10).sum() > 2_000
    # the figures are drawn: the second level's colour (#d1495b) appears only in figures
    assert _near(img, "#d1495b", tol=25).sum() > 500
    # nothing is wider than the page: the right margin (beyond the 1180px body) stays white
    right = img[:, WIDTH - 30:]
    assert (right >= 250).all(axis=-1).mean() > 0.99
