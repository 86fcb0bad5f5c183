"""Project structure: public API, quick start, CI entry point."""

from __future__ import annotations

import importlib

from conftest import ROOT

import nen_bayes


def test_public_api_is_importable():
    for name in nen_bayes.__all__:
        assert hasattr(nen_bayes, name), name
    for mod in ("cohort", "describe", "errors", "io", "schema", "simulate", "validate",
                "calibration", "cli", "km", "rmst", "logrank", "cox", "response", "effects",
                "baselines", "study", "plotting", "priors", "spec", "design", "families",
                "model", "inference", "posterior", "predict", "diagnostics", "compare",
                "contrast", "report", "reanalysis", "priorgrid", "summary_level",
                "sensitivity", "reconstruct", "roundtrip"):
        m = importlib.import_module(f"nen_bayes.{mod}")
        for name in m.__all__:
            assert hasattr(m, name), f"{mod}.{name}"


def test_computation_modules_do_not_import_plotting():
    """Only nen_bayes/plotting.py may import matplotlib (computation returns data)."""
    checked = [p for p in (ROOT / "nen_bayes").glob("*.py") if p.name != "plotting.py"]
    assert len(checked) > 10
    for path in checked:
        assert "matplotlib" not in path.read_text(), path.name


def test_readme_quick_start_and_ci():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci/run").read_text()


def test_find_python_honours_override_and_rejects_old(tmp_path):
    import subprocess

    script = ROOT / "tools/find-python.sh"
    r = subprocess.run(["bash", str(script)], capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin", "PYTHON": "/nonexistent/python9"},
                       check=False)
    assert r.returncode == 1 and "not a Python >= 3.12" in r.stderr
    import sys

    r = subprocess.run(["bash", str(script)], capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable}, check=False)
    assert r.returncode == 0 and r.stdout.strip()


def test_readme_calibration_table_is_true():
    """The README's published-vs-bundled table equals the one computed from the bundled file."""
    from nen_bayes import load_calibration, load_cohort
    from nen_bayes.calibration import calibration_markdown, calibration_summary
    from nen_bayes.data import BUNDLED_COHORT

    readme = (ROOT / "README.md").read_text()
    shown = readme.split("<!-- calibration-table -->\n")[1].split("<!-- /calibration-table -->")[0]
    summary = calibration_summary(load_cohort(BUNDLED_COHORT).data)
    assert shown == calibration_markdown(summary, load_calibration()["targets"])


def test_readme_layout_lists_every_module():
    readme = (ROOT / "README.md").read_text()
    for path in sorted((ROOT / "nen_bayes").glob("*.py")):
        if path.name != "__init__.py":
            assert f"`nen_bayes/{path.name}`" in readme, path.name


def test_readme_study_table_is_true():
    """The README's published-vs-reproduced p-value table equals the one computed now."""
    from nen_bayes import load_cohort, run_baselines
    from nen_bayes.data import BUNDLED_COHORT
    from nen_bayes.study import study_markdown, study_table

    readme = (ROOT / "README.md").read_text()
    shown = readme.split("<!-- study-table -->\n")[1].split("<!-- /study-table -->")[0]
    cohort = load_cohort(BUNDLED_COHORT)
    reports = [run_baselines(cohort, e, horizons=(), dcr=False) for e in ("os", "hpfs", "pfs")]
    assert shown == study_markdown(study_table(reports))
