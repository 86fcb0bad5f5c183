"""Golden test: the BUGS Examples "Mice" analysis (Weibull regression, four groups, censored
times; tests/data/mice.README.md), fitted with fit.py and its model file, matches the published
posterior tables.

Reference: the two MultiBUGS results tables of the example (mean and MC_error of veh.control,
test.sub, pos.control and r, each from 20000 draws after 2000 burn-in), of the model

    t[i, j] ~ dweib(r, mu[i]) C(t.cen[i, j], ),  mu[i] = exp(beta[i]),
    beta[i] ~ dnorm(0, 0.001),  r ~ dunif(0.1, 10),
    veh.control = beta[2] - beta[1], test.sub = beta[3] - beta[1], pos.control = beta[4] - beta[1].

Mapping (exact): dweib(r, mu) has hazard r mu t^(r-1); ours (shape/scale) (t/scale)^(shape-1)
exp(b'x) = shape scale^-shape t^(shape-1) exp(b'x). So r = shape, beta[1] = -shape log(scale)
with the irradiated control as reference, and beta[g] - beta[1] = b[g], our log-HR of group g
against it: veh.control, test.sub and pos.control are our coefficients.

Priors: the model file states what a model file can (coefficients Normal(0, 31.6), shape
Exponential(0.001) as the OpenBUGS version of the example writes r, scale LogNormal(0, 100)).
The published joint prior differs in parameterisation: independent Normal(0, SD 31.6) on
beta[1..4] (our coefficients are their differences) and r ~ Uniform(0.1, 10). Both are put back
exactly by importance weights, the ratio of the published prior to ours as densities of
(log scale, b, shape): the map (log scale, b) -> beta has |Jacobian| = shape, so

    log w = sum_g log N(beta[g]; 0, 31.6) + log shape + log U(shape; 0.1, 10)
            - [sum_g log N(b[g]; 0, 31.6) + log N(log scale; 0, 100) + log Exp(shape; 0.001)]

(Pareto-smoothed; k < 0.7). These priors are nearly flat over the posterior, so the weights are
nearly constant, but nothing is approximated.

Tolerance per quantity: 3.5 x sqrt(MCSE^2 + published MC_error^2 + between-table^2), with our
MCSE = weighted SD x sqrt(1 / ESS_bulk + 1 / ESS_weights) and between-table = |table 1 -
table 2| / sqrt(2) (two published runs of the same model; r differs by 0.029 with MC errors
0.018 and 0.019): 8 comparisons at 3.5 SE, family-wise false alarm below 0.5%. The fit runs
4 x 2000 draws after 1000 tuning steps (about 8 s of sampling).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from scipy import stats

from nen_bayes.bayes.inference import read_fit

pytestmark = pytest.mark.slow

#: parameter -> (mean, MC_error) of the two published MultiBUGS tables
TABLE_1 = {"veh.control": (-1.135, 0.005432), "test.sub": (-0.3474, 0.003402),
           "pos.control": (0.3228, 0.004274), "r": (2.951, 0.01766)}
TABLE_2 = {"veh.control": (-1.15, 0.005118), "test.sub": (-0.3499, 0.003248),
           "pos.control": (0.3255, 0.004532), "r": (2.98, 0.01894)}
OURS = {"veh.control": "group[vehicle_control]", "test.sub": "group[test_substance]",
        "pos.control": "group[positive_control]", "r": None}
SD_BETA = 1000 ** 0.5  # precision 0.001 -> SD sqrt(1000) = 31.6


@pytest.fixture(scope="module")
def mice_fit(tmp_path_factory):
    out = tmp_path_factory.mktemp("mice") / "fit"
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts/fit.py"), "--data", ROOT / "tests/data/mice.csv",
         "--time", "time", "--event", "status", "--no-centre", "--row-ids", "--time-unit",
         "weeks", "--model", ROOT / "tests/data/mice_weibull.toml", "--quiet",
         "--draws", "2000", "--tune", "1000",
         "--formats", "png", "--out", out], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    return r, out


def test_the_published_mice_analysis_matches_its_tables(mice_fit):
    import arviz_stats as azs
    from arviz_stats.base import array_stats

    r, out = mice_fit
    assert "NOT CONVERGED" not in r.stdout
    assert json.loads((out / "run.json").read_text())["converged"] is True
    post = read_fit(out / "fit.nc")["posterior"].dataset
    shape = post["shape"].values.ravel()
    log_scale = np.log(post["scale"].values.ravel())
    b = {k: post["beta"].sel(covariate=v).values.ravel() for k, v in OURS.items() if v}
    beta1 = -shape * log_scale
    betas = [beta1] + [beta1 + b[k] for k in ("veh.control", "test.sub", "pos.control")]
    published = (sum(stats.norm(0, SD_BETA).logpdf(x) for x in betas) + np.log(shape)
                 + stats.uniform(0.1, 9.9).logpdf(shape))
    ours = (sum(stats.norm(0, SD_BETA).logpdf(x) for x in b.values())
            + stats.norm(0, 100).logpdf(log_scale) + stats.expon(scale=1000).logpdf(shape))
    log_w = published - ours
    # arviz_stats' psislw takes log-likelihood values and returns the log weights of
    # their inverse (its LOO convention): pass minus the log importance ratio
    ratio = log_w - log_w.max()
    log_w, k = array_stats.psislw(-ratio, r_eff=1)
    assert np.corrcoef(log_w, ratio)[0, 1] > 0.99  # the weights grow with the ratio
    assert k < 0.7
    w = np.exp(log_w)
    ess_w = 1.0 / np.sum(w ** 2)
    for name, coord in OURS.items():
        x = (post["shape"] if coord is None else post["beta"].sel(covariate=coord)).values
        est = float(np.sum(w * x.ravel()))
        sd_w = float(np.sqrt(np.sum(w * (x.ravel() - est) ** 2)))
        mcse = sd_w * np.sqrt(1.0 / float(azs.ess(x, method="bulk")) + 1.0 / ess_w)
        between = abs(TABLE_1[name][0] - TABLE_2[name][0]) / np.sqrt(2)
        for table in (TABLE_1, TABLE_2):
            mean, mc_error = table[name]
            tol = 3.5 * np.sqrt(mcse ** 2 + mc_error ** 2 + between ** 2)
            assert abs(est - mean) < tol, (name, est, mean, tol)
