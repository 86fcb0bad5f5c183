"""Project structure: public API, quick start, CI entry point."""

from __future__ import annotations

import importlib
import pkgutil

from conftest import ROOT

import nen_bayes
from nen_bayes.re_nen import RE_NEN


def test_public_api_is_small_and_importable():
    """About forty names, each loaded on first use; every module of the package imports and
    its ``__all__`` names exist (the package is walked, not listed by hand)."""
    assert 35 <= len(nen_bayes.__all__) <= 50
    assert not [n for n in nen_bayes.__all__ if n.endswith(("Error", "Warning"))]
    for name in nen_bayes.__all__:
        assert getattr(nen_bayes, name) is not None, name
    modules = [m.name for m in pkgutil.walk_packages(nen_bayes.__path__, "nen_bayes.")]
    assert len(modules) > 40
    for mod in modules:
        m = importlib.import_module(mod)
        for name in getattr(m, "__all__", ()):
            assert hasattr(m, name), f"{mod}.{name}"


def test_importing_the_package_loads_no_heavy_library():
    """``import nen_bayes`` and the frequentist layer load neither PyMC nor matplotlib."""
    import subprocess
    import sys

    code = ("import sys, nen_bayes; from nen_bayes import kaplan_meier, run_baselines; "
            "print(sorted(m for m in ('pymc', 'pytensor', 'matplotlib', 'xarray') "
            "if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"


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
    from nen_bayes import load_cohort
    from nen_bayes.data import BUNDLED_COHORT
    from nen_bayes.re_nen.calibration import calibration_markdown, calibration_summary
    from nen_bayes.re_nen.simulate import load_calibration

    readme = (ROOT / "README.md").read_text()
    shown = readme.split("<!-- calibration-table -->\n")[1].split("<!-- /calibration-table -->")[0]
    summary = calibration_summary(load_cohort(BUNDLED_COHORT, RE_NEN).data)
    assert shown == calibration_markdown(summary, load_calibration()["targets"])


def test_readme_study_table_is_true():
    """The README's published-vs-reproduced p-value table equals the one computed now."""
    from nen_bayes import load_cohort, run_baselines
    from nen_bayes.data import BUNDLED_COHORT
    from nen_bayes.re_nen.study import study_markdown, study_table

    readme = (ROOT / "README.md").read_text()
    shown = readme.split("<!-- study-table -->\n")[1].split("<!-- /study-table -->")[0]
    cohort = load_cohort(BUNDLED_COHORT, RE_NEN)
    reports = [run_baselines(cohort, e, horizons=(), dcr=False) for e in ("os", "hpfs", "pfs")]
    assert shown == study_markdown(study_table(reports))
