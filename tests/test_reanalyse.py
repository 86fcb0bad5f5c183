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
            "--chains", 2, "--accept-unconverged", "--out", out)
    assert r.returncode == 0, r.stderr[-3000:]
    assert re.search(r"\[ 1/\d+\] describe the cohort", r.stdout)  # progress lines
    summary = (out / "summary.txt").read_text()
    # 2 x 60 draws cannot reach a bulk ESS of 200: reported only because of the option, flagged
    assert summary.index("NOT CONVERGED") < summary.index("Bayesian     HR")
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
    assert not (out / "crossval").exists()  # cross-validation only when asked (--cv centre)
    run_json = json.loads((out / "run.json").read_text())
    assert run_json["data_hash"] == content_hash(BUNDLED_COHORT.read_bytes())
    assert run_json["settings"]["seed"] == 20261123 and "pymc" in run_json["versions"]
    html = check_report(out / "report.html")
    assert "SYNTHETIC DATA" in html and run_json["data_hash"] in html
    assert "second_line vs salvage" in html
    assert "prior sensitivity" in html and "Power-scaling sensitivity" in html
    # the answer comes first, boxed, with the summary's numbers
    hr = re.search(r"Bayesian     HR (\S+ \(95% CrI \S+\))", summary).group(1)
    box = html[html.index('<div class="answer">'):html.index("<nav>")]
    assert re.search(rf"second_line vs salvage, [^:<]+: HR {re.escape(hr)}; probability of any "
                     r"benefit [<>]?\d\.\d{3}, of a benefit beyond HR 0\.8 [<>]?\d\.\d{3}; "
                     r"the log-rank test gives p [=<] \d\.\d{3}\.", box), box[-1500:]

    before = (out / "report.html").read_bytes()
    r = run("--endpoint", "os", "--draws", 10, "--out", out)
    assert r.returncode == 2 and "--force" in r.stderr
    assert (out / "report.html").read_bytes() == before


@pytest.mark.slow
def test_the_main_job_on_the_bundled_cohort(tmp_path):
    """What `make run` runs: three endpoints x the default model set with the default
    settings. Every fit of the headline model passes every diagnostic check, and every model of
    the set is in each endpoint's comparison (none left out)."""
    from nen_bayes.pipeline.settings import DEFAULT_MODELS
    out = tmp_path / "results"
    r = run("--out", out)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = (out / "summary.txt").read_text()
    for ep in ("os", "hpfs", "pfs"):
        assert f"\n{ep} (" in summary
        card = json.loads((out / f"fits/{ep}/weibull_ph_centre/run_card.json").read_text())
        assert card["passed"], card["failed"]
        loo = (out / f"compare/{ep}/loo.csv").read_text().splitlines()
        assert len(loo) == 1 + len(DEFAULT_MODELS), loo  # header + every model
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


def test_an_endpoint_without_events_is_refused_before_the_first_step(tmp_path):
    import pandas as pd

    from nen_bayes import load_cohort
    from nen_bayes.errors import ModelDataError
    from nen_bayes.pipeline.reanalysis import reanalyse
    from nen_bayes.re_nen import RE_NEN

    # without its interval columns, whose upper bounds would contradict the censoring
    frame = pd.read_csv(BUNDLED_COHORT).drop(columns=["hpfs_lower", "hpfs_upper"])
    frame["hpfs_event"] = 0
    cohort = load_cohort(frame, RE_NEN)
    said = []
    with pytest.raises(ModelDataError, match="'hpfs' has no events"):
        reanalyse(cohort, tmp_path, _settings(), say=said.append)
    assert said == [] and list(tmp_path.iterdir()) == []


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


# --- the report answers first (issue 16) ------------------------------------------------------
def _answer_inputs(*, hr=(0.79, 0.61, 1.04), probs=(0.955, 0.529, 0.012, 0.25),
                   logrank_p=0.084, cox_row=True, failures=(), accept=False):
    """A contrast and a baseline report with chosen numbers (no sampling): second_line vs
    salvage; the baseline Cox row is stored the other way round (salvage vs second_line), as
    the baselines fit it."""
    from types import SimpleNamespace

    import pandas as pd

    from nen_bayes.posterior.contrast import ContrastResult
    from nen_bayes.settings import Decision

    d = Decision()
    con = ContrastResult(
        model="weibull_ph_centre", endpoint="os", term="line", level="second_line",
        reference="salvage", time_unit="months", conf_level=0.95, hr=hr,
        probabilities=pd.DataFrame([(k, lab, p) for (k, lab), p in zip(d.events.items(), probs,
                                                                        strict=True)],
                                   columns=["quantity", "event", "probability"]),
        curves=pd.DataFrame(),
        medians=pd.DataFrame(columns=["what", "group", "estimate", "lower", "upper",
                                      "prob_positive", "not_reached"]),
        rmst=pd.DataFrame(columns=["horizon", "what", "group", "estimate", "lower", "upper",
                                   "prob_positive"]),
        centres=pd.DataFrame(), group_sd={}, new_centre=pd.DataFrame(), n_draws=4000,
        n_draws_curves=0, decision=d)
    cox = pd.DataFrame([{"level": "salvage", "reference": "second_line", "hr": 1.25,
                         "lower": 0.97, "upper": 1.61, "p": 0.085}] if cox_row else
                       [], columns=["level", "reference", "hr", "lower", "upper", "p"])
    rep = SimpleNamespace(endpoint_label="overall survival",
                          overall=SimpleNamespace(n=297, events=223),
                          logrank={"line": SimpleNamespace(p_value=logrank_p,
                                                           levels=("second_line", "salvage"))},
                          cox_univariable={"line": SimpleNamespace(table=cox)})
    card = SimpleNamespace(passed=not failures,
                           failures=[SimpleNamespace(name=f) for f in failures])
    ep = SimpleNamespace(endpoint="os", contrast=SimpleNamespace(result=con, figures={
        "hr": b"png", "standardised": b"png"}), fits={con.model: SimpleNamespace(card=card)})
    settings = SimpleNamespace(conf_level=0.95, headline=SimpleNamespace(name=con.model),
                               accept_unconverged=accept)
    return SimpleNamespace(endpoints={"os": ep}, settings=settings, notes={"os": ()},
                           baselines=SimpleNamespace(reports={"os": rep}, figures={}))


def _answer_html(r) -> str:
    from nen_bayes.pipeline.html import Section, render_html
    from nen_bayes.pipeline.sections import answer_section

    later = Section("Summary").pre("the preformatted summary")
    return render_html("Bayesian reanalysis: cohort.csv", [answer_section(r), later],
                       notice="SYNTHETIC DATA: not the study's results.")


def test_the_report_opens_with_the_answer_in_a_boxed_table():
    """The brief's sentence, word for word, from chosen numbers; the box is an HTML table (not
    preformatted text) before the table of contents and every other section."""
    text = _answer_html(_answer_inputs())
    box = text[text.index('<div class="answer">'):text.index("<nav>")]
    assert text.index('<div class="answer">') < text.index("<nav>") < \
        text.index("the preformatted summary")
    assert text.index("SYNTHETIC DATA") < text.index('<div class="answer">')
    assert "<table>" in box and "<pre>" not in box
    assert ("second_line vs salvage, overall survival: HR 0.79 (95% CrI 0.61-1.04); probability "
            "of any benefit 0.955, of a benefit beyond HR 0.8 0.529; the log-rank test gives "
            "p = 0.084.") in box
    cells = re.findall(r"<td>(.*?)</td>", box)
    # Cox stored as salvage vs second_line 1.25 (0.97-1.61): reversed 1/1.25 = 0.80,
    # CI 1/1.61 = 0.62 to 1/0.97 = 1.03
    assert cells == ["os (overall survival)", "297 / 223", "0.79 (0.61-1.04)", "0.955",
                     "0.529", "0.012", "0.084", "0.80 (0.62-1.03)"]
    for head in ("P(HR &lt; 1)", "P(HR &lt; 0.8)", "P(HR &gt; 1.25)", "log-rank p",
                 "Cox HR (95% CI)", "HR (95% CrI)", "weibull_ph_centre"):
        assert head in box, head
    assert '<p class="pass">Every sampler check of weibull_ph_centre passes.</p>' in box


def test_the_answer_says_when_its_diagnostics_failed():
    text = _answer_html(_answer_inputs(failures=("rhat", "ess_bulk")))
    box = text[text.index('<div class="answer">'):text.index("<nav>")]
    assert ('<p class="fail">The diagnostics of weibull_ph_centre FAILED for os (rhat, '
            "ess_bulk): these numbers are not reliable") in box
    # a headline fit that missed the convergence checks gives no HR without the option
    assert "not reported: NOT CONVERGED" in box and "--accept-unconverged" in box
    text = _answer_html(_answer_inputs(failures=("rhat",), accept=True))
    box = text[text.index('<div class="answer">'):text.index("<nav>")]
    assert "not reported" not in box and "FAILED for os (rhat)" in box


def test_the_answer_says_why_a_number_is_missing_and_never_writes_nan():
    text = _answer_html(_answer_inputs(probs=(1.0, 0.9995, 0.0, 0.0), logrank_p=float("nan"),
                                       cox_row=False))
    box = text[text.index('<div class="answer">'):]
    box = box[:box.index("<nav>")]
    assert "nan" not in box.lower()
    assert "probability of any benefit &gt;0.999, of a benefit beyond HR 0.8 &gt;0.999." in box
    assert "log-rank test gives" not in box
    cells = re.findall(r"<td>(.*?)</td>", box)
    assert cells[3:] == ["&gt;0.999", "&gt;0.999", "&lt;0.001", "n/a", "n/a"]
    # the reasons come from the baselines' reading of the contrast (frequentist_contrast)
    assert "os, log-rank p: no log-rank test of line" in box
    assert "os, Cox HR: no second_line vs salvage row in the univariable Cox table" in box


def test_wide_tables_scroll_inside_their_own_box():
    import pandas as pd

    from nen_bayes.pipeline.html import Section, render_html

    wide = pd.DataFrame([{f"column {i}": "x" * 30 for i in range(20)}])
    text = render_html("t", [Section("Wide").table(wide)])
    assert '<div class="scroll"><table>' in text
    assert re.search(r"\.scroll\{[^}]*overflow-x:auto", text)


def test_a_missing_frequentist_number_is_never_nan_in_the_contrast_section():
    from nen_bayes.pipeline.html import render_html
    from nen_bayes.pipeline.sections import contrast_section

    r = _answer_inputs(logrank_p=float("nan"), cox_row=False)
    text = render_html("t", [contrast_section(r, r.endpoints["os"])])
    assert "nan" not in text.lower()
    assert "<h2 id=\"os--overall-survival\">os (overall survival)</h2>" in text
    cells = re.findall(r"<td>(.*?)</td>", text)
    assert cells[:8] == ["log-rank test (unadjusted)", "", "", "n/a (no log-rank test of line)",
                         "Cox univariable, HR second_line vs salvage", "n/a", "",
                         "no second_line vs salvage row in the univariable Cox table"]
