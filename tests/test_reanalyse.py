"""The main job: reanalyse.py end to end (few draws in the fast tier, the full default job in
the slow tier), its results layout, summary and self-contained HTML report."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from conftest import ROOT

from nen_bayes.cohorts.read import content_hash
from nen_bayes.data import BUNDLED_COHORT

SCRIPT = ROOT / "scripts/reanalyse.py"


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for k, v in attrs:
            if k in ("src", "href") and v:
                self.refs.append(v)


def check_report(path):
    text = path.read_text()
    p = _Refs()
    p.feed(text)
    # self-contained: every image is embedded, links only point inside the page
    assert all(r.startswith(("data:image/png;base64,", "#")) for r in p.refs), \
        [r[:40] for r in p.refs if not r.startswith(("data:", "#"))]
    assert "script" not in p.tags and "link" not in p.tags
    assert sum(r.startswith("data:image/png") for r in p.refs) >= 5
    return text


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), "--data", str(BUNDLED_COHORT),
                           *map(str, args)], capture_output=True, text=True, check=False,
                          cwd=ROOT)


def test_few_draw_job_writes_everything(tmp_path):
    out = tmp_path / "results"
    r = run("--endpoint", "os", "--model", ROOT / "models/weibull_ph_centre.toml",
            "--model", ROOT / "models/weibull_ph_pooled.toml", "--draws", 60, "--tune", 60,
            "--chains", 2, "--out", out)
    assert r.returncode == 0, r.stderr[-3000:]
    assert re.search(r"\[ 1/\d+\] describe the cohort", r.stdout)  # progress lines
    summary = (out / "summary.txt").read_text()
    assert summary.startswith("SYNTHETIC DATA") and summary.rstrip().endswith("study's results.")
    for key in ("frequentist  log-rank p =", "Bayesian     HR", "diagnostics", "preferred",
                "prior grid   P(HR < 1) from", "published line comparison (P = 0.078"):
        assert key in summary, key
    for rel in ("describe.txt", "baseline/effects.csv", "fits/os/weibull_ph_centre/fit.nc",
                "fits/os/weibull_ph_centre/run_card.json",
                "fits/os/weibull_ph_centre/diagnostics/rank.png",
                "fits/os/weibull_ph_pooled/run_card.json", "compare/os/loo.csv",
                "compare/os/side_by_side.csv", "line_effects/effects.csv",
                "line_effects/curves_os.csv", "line_effects/across_models.csv", "run.json",
                "sensitivity/os/grid.csv", "sensitivity/os/prior_grid.png",
                "summary_level/posterior.csv", "summary_level/sweep.png"):
        assert (out / rel).exists(), rel
    run_json = json.loads((out / "run.json").read_text())
    assert run_json["data_hash"] == content_hash(BUNDLED_COHORT.read_bytes())
    assert run_json["settings"]["seed"] == 20261123 and "pymc" in run_json["versions"]
    html = check_report(out / "report.html")
    assert "SYNTHETIC DATA" in html and run_json["data_hash"] in html
    assert "second_line vs salvage" in html
    assert "prior sensitivity" in html and "Power-scaling sensitivity" in html

    before = (out / "report.html").read_bytes()
    r = run("--endpoint", "os", "--draws", 10, "--out", out)
    assert r.returncode == 2 and "--force" in r.stderr
    assert (out / "report.html").read_bytes() == before


@pytest.mark.slow
def test_the_main_job_on_the_bundled_cohort(tmp_path):
    """What `make run` runs: three endpoints x five models with the default settings. Every
    fit of the headline model passes every diagnostic check."""
    out = tmp_path / "results"
    r = run("--out", out)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = (out / "summary.txt").read_text()
    for ep in ("os", "hpfs", "pfs"):
        assert f"\n{ep} (" in summary
        card = json.loads((out / f"fits/{ep}/weibull_ph_centre/run_card.json").read_text())
        assert card["passed"], card["failed"]
        loo = (out / f"compare/{ep}/loo.csv").read_text().splitlines()
        assert len(loo) == 6  # header + five models
    check_report(out / "report.html")


def test_a_contrast_the_headline_model_cannot_answer_is_refused_before_sampling(tmp_path):
    out = tmp_path / "results"
    r = run("--level", "first_line", "--out", out)
    assert r.returncode == 2 and "no level 'first_line'" in r.stderr
    assert "fit weibull" not in r.stdout and not out.exists()
    r = run("--term", "vascularisation", "--out", out)
    assert r.returncode == 2 and "no categorical covariate 'vascularisation'" in r.stderr
    assert not out.exists()


# --- settings checked before any fit; the published comparison; progress ---------------------
def _settings(**kw):
    from nen_bayes.bayes.spec import load_spec
    from nen_bayes.pipeline.settings import ReanalysisSettings
    from nen_bayes.re_nen import LINE_CONTRAST

    specs = (load_spec(ROOT / "models/weibull_ph_centre.toml"),)
    return ReanalysisSettings(**{"specs": specs, "contrast": LINE_CONTRAST, **kw})


@pytest.mark.parametrize(("kw", "message"), [
    ({"formats": ("png", "bmp")}, "figure formats"),
    ({"thresholds": {"rhat": 1.05, "rhatt": 1.1}}, "unknown diagnostic thresholds"),
    ({"endpoints": ("os", "dfs")}, "no endpoint"),
    ({"factors": ("line", "sex")}, "no categorical covariate"),
    ({"conf_level": 1.5}, "conf_level"),
    ({"horizons": (0.0, 24.0)}, "RMST horizons"),
    ({"specs": ()}, "no model"),
])
def test_every_setting_is_checked_before_any_fit(kw, message, tmp_path):
    from nen_bayes import load_cohort
    from nen_bayes.errors import ModelDataError
    from nen_bayes.pipeline.reanalysis import reanalyse
    from nen_bayes.re_nen import RE_NEN

    cohort = load_cohort(BUNDLED_COHORT, RE_NEN)
    said = []
    with pytest.raises(ModelDataError, match=message):
        reanalyse(cohort, tmp_path, _settings(**kw), say=said.append)
    assert said == [] and list(tmp_path.iterdir()) == []  # nothing ran, nothing written


def test_the_published_comparison_comes_from_the_calibration_file():
    """P = 0.078 and 297 evaluations are the abstract's figures (shared STUDY.md), stored once in
    calibration.toml; under a flat prior P(HR < 1) = 1 - p/2 whatever the assumed events and
    group sizes (Parmar/Tierney: the z statistic is fixed by p)."""
    from nen_bayes.re_nen.published import published_line_comparison, reanalyse_published
    from nen_bayes.re_nen.simulate import load_calibration

    c = published_line_comparison()
    assert (c.p, c.n, c.events) == (0.078, 297, 223)
    r = reanalyse_published(c)
    assert r.table.iloc[0]["prior"] == "flat"
    assert r.table.iloc[0]["P(HR < 1)"] == pytest.approx(1 - 0.078 / 2, abs=1e-12)
    assert r.sweep["P(HR < 1) flat"].to_numpy() == pytest.approx(1 - 0.078 / 2, abs=1e-12)
    assert "P = 0.078" in r.summary_line() and "assumed 223 events, even split" in \
        r.summary_line()
    cal = load_calibration()
    cal["targets"]["p_line_os"]["value"] = 0.2  # a different published figure is followed
    assert published_line_comparison(cal).p == 0.2


def test_progress_numbers_steps_and_times_them():
    from nen_bayes.pipeline.progress import Progress

    said = []
    p = Progress(2, said.append)
    with p.step("first"):
        pass
    with pytest.raises(RuntimeError), p.step("second"):
        raise RuntimeError("boom")
    assert said[0] == "[ 1/2] first ..." and said[1].startswith("        done in")
    assert said[2] == "[ 2/2] second ..." and len(said) == 3  # a failed step is not "done"
    assert list(p.timings) == ["first"]
