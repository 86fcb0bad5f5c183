"""One model that cannot be estimated never stops the main job: a Bayesian model of the set
that fails to sample and a baseline Cox model that fails are each left out with a note naming
them and the error, and every other analysis is written. The headline model failing stops the
job with a clear error (the contrast is read from it)."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT

from nen_bayes import load_cohort
from nen_bayes.bayes.spec import load_spec
from nen_bayes.data import BUNDLED_COHORT
from nen_bayes.errors import BaselineError, ModelDataError
from nen_bayes.frequentist import baselines
from nen_bayes.pipeline import steps
from nen_bayes.pipeline.reanalysis import reanalyse
from nen_bayes.pipeline.settings import ReanalysisSettings
from nen_bayes.re_nen import LINE_CONTRAST, RE_NEN
from nen_bayes.settings import Sampling

HEADLINE, OTHER = "weibull_ph_centre", "weibull_ph_pooled"
SAMPLER_ERROR = "Initial evaluation of model at starting point failed!"


def _settings() -> ReanalysisSettings:
    specs = tuple(load_spec(ROOT / f"models/{n}.toml") for n in (HEADLINE, OTHER))
    return ReanalysisSettings(specs=specs, contrast=LINE_CONTRAST, endpoints=("os",),
                              sampling=Sampling(draws=60, tune=60, chains=2),
                              priors=(), published=None)


def _failing_fit(failing: str):
    real = steps.fit

    def fit(spec, cohort, **kw):
        if spec.name == failing:
            raise RuntimeError(SAMPLER_ERROR)  # what PyMC's SamplingError says (a RuntimeError)
        return real(spec, cohort, **kw)

    return fit


def _failing_stratified_cox():
    real = baselines.cox_fit

    def cox_fit(data, duration, event, terms, **kw):
        if kw.get("strata"):
            raise BaselineError("Cox model did not converge: matrix inversion problems")
        return real(data, duration, event, terms, **kw)

    return cox_fit


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """The few-draw job on the bundled cohort with the second model failing to sample and the
    centre-stratified Cox model failing to converge."""
    mp = pytest.MonkeyPatch()
    mp.setattr(steps, "fit", _failing_fit(OTHER))
    mp.setattr(baselines, "cox_fit", _failing_stratified_cox())
    out = tmp_path_factory.mktemp("job")
    said: list[str] = []
    try:
        cohort = load_cohort(BUNDLED_COHORT, RE_NEN)
        with pytest.warns(UserWarning):  # the Cox model left out warns (BaselineWarning)
            result = reanalyse(cohort, out, _settings(), say=said.append)
    finally:
        mp.undo()
    return result, out, said


def test_a_model_that_fails_to_sample_is_left_out_with_a_note(job):
    result, out, said = job
    ep = result.endpoints["os"]
    assert list(ep.fits) == [HEADLINE]
    [note] = ep.notes
    assert OTHER in note and SAMPLER_ERROR in note and "RuntimeError" in note
    assert any(OTHER in line and "left out" in line for line in said)  # said as it happens
    assert list(result.across_models["model"]) == [HEADLINE]
    assert (out / "compare/os/loo.csv").read_text().count("\n") == 2  # header + one model
    assert not (out / "fits/os" / OTHER).exists()  # nothing half-written of the failed model


def test_a_cox_model_that_fails_leaves_the_baselines(job):
    result, out, _ = job
    rep = result.baselines.reports["os"]
    assert "centre_strata" not in rep.cox_multivariable and "plain" in rep.cox_multivariable
    [failed] = [n for n in rep.not_estimated if "could not be estimated" in n]
    assert "stratified by 'centre'" in failed and "matrix inversion problems" in failed
    assert failed in (out / "baseline/baseline.txt").read_text()


def test_every_other_file_is_written_and_run_json_names_the_failures(job):
    result, out, _ = job
    for rel in ("describe.txt", "baseline/effects.csv", "baseline/baseline.txt",
                f"fits/os/{HEADLINE}/fit.nc", f"fits/os/{HEADLINE}/run_card.json",
                "compare/os/side_by_side.csv", "line_effects/effects.csv",
                "line_effects/curves_os.csv", "line_effects/across_models.csv", "summary.txt",
                "run.json", "report.html"):
        assert (out / rel).exists(), rel
    notes = json.loads((out / "run.json").read_text())["notes"]["os"]
    assert any(OTHER in n for n in notes)
    assert any("stratified by 'centre' could not be estimated" in n for n in notes)
    assert notes == list(result.notes["os"])


def test_the_summary_and_report_name_the_failures(job):
    """summary.txt prints each note of the endpoint (models left out, Cox models and
    coefficients without an estimate) on a line ``  note         <note>`` under it; the report
    shows the same sentences."""
    result, out, _ = job
    summary = (out / "summary.txt").read_text()
    for n in result.notes["os"]:
        assert f"  note         {n}" in summary
    html = (out / "report.html").read_text()
    assert f"{OTHER} could not be fitted" in html


def test_the_headline_model_failing_stops_the_job_with_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(steps, "fit", _failing_fit(HEADLINE))
    cohort = load_cohort(BUNDLED_COHORT, RE_NEN)
    with pytest.raises(ModelDataError, match=rf"headline model '{HEADLINE}' could not be "
                                             rf"fitted on 'os' \(RuntimeError: {SAMPLER_ERROR}"):
        reanalyse(cohort, tmp_path, _settings(), say=lambda _: None)


def test_the_steps_are_named_by_the_contrasts_term(tmp_path):
    """Issue finding: the step was called "treatment-line effects" whatever the term."""
    from nen_bayes.settings import Contrast

    specs = (load_spec(ROOT / f"models/{HEADLINE}.toml"),)
    s = ReanalysisSettings(specs=specs, contrast=Contrast("grade", "G3", "G1"),
                           endpoints=("os",), sampling=Sampling(draws=40, tune=40, chains=1),
                           priors=(), published=None)
    said = []
    result = reanalyse(load_cohort(BUNDLED_COHORT, RE_NEN), tmp_path, s, say=said.append)
    assert any(line.endswith("os: grade effects ...") for line in said), said
    assert not any("line" in line and "effects" in line for line in said)
    assert result.endpoints["os"].contrast.result.contrast == "G3 vs G1"
