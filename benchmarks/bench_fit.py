#!/usr/bin/env python3
"""Speed, efficiency and scale of the headline model, against a naive reference run in the same
process.

Part 1, bundled cohort (SYNTHETIC), 4 chains x 1000 draws after 1000 tuning steps, wall time
with compilation included:
  * the headline model (models/weibull_ph_centre.toml) through nen_bayes.bayes.inference.fit
    with each offered sampler (nutpie, pymc), posterior only (no log-likelihood or predictive
    draws);
  * the naive reference written below: centred random effects, pm.Censored(pm.Weibull) with the
    same priors, sampled by PyMC's own NUTS (named explicitly: PyMC 6 uses nutpie by default
    when it is installed).
  Reported: wall s, divergences, max R-hat, min bulk ESS over every parameter, ESS/s, and the
  ESS/s ratio to the reference; and whether the samplers agree (posterior means within
  4 combined MC standard errors, every parameter).
Part 2, scale: a simulated cohort of 30,000 patients in 100 centres (Weibull PH, known truth),
  the full fit (posterior, prior, pointwise log-likelihood, posterior predictive) written to
  NetCDF, in a child process whose peak resident memory is read from the OS.

Usage: benchmarks/bench_fit.py [--only bundled|scale] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DRAWS, TUNE, CHAINS, SEED = 1000, 1000, 4, 2026


def diagnostics(tree, var_names):
    import arviz as az

    # centred group effects (chosen automatically for large centres) have u_, not z_
    var_names = [v if v in tree["posterior"] else v.replace("z_", "u_", 1) for v in var_names]
    post = tree["posterior"].to_dataset()[var_names]
    ess = az.ess(post, method="bulk")
    rhat = az.rhat(post)
    ess_min = min(float(ess[v].min()) for v in var_names)
    rhat_max = max(float(rhat[v].max()) for v in var_names)
    div = int(tree["sample_stats"]["diverging"].sum())
    return ess_min, rhat_max, div


def naive_reference(design, spec):
    """Centred random intercepts, pm.Censored(pm.Weibull), PyMC's own NUTS."""
    import pymc as pm
    import pytensor.tensor as pt

    pri = spec.priors
    with pm.Model(coords=design.coords()) as model:
        beta = pm.Normal("beta", 0.0, pri["coefficient"].params["sigma"], dims="covariate")
        shape = pm.LogNormal("shape", **pri["shape"].params)
        scale = pm.LogNormal("scale", **pri["scale"].params)
        sd = pm.HalfNormal("sd_centre", **pri["group_sd"].params)
        u = pm.Normal("u_centre", 0.0, sd, dims="centre")
        eta = pt.dot(design.X, beta) + u[design.groups[0].index]
        # PH -> Weibull scale per unit: S = exp(-(t/scale)^shape e^eta) = exp(-(t/lam)^shape)
        lam = scale * pt.exp(-eta / shape)
        upper = np.where(design.event == 1, np.inf, design.time)
        pm.Censored("time", pm.Weibull.dist(alpha=shape, beta=lam), lower=None, upper=upper,
                    observed=design.time, dims="patient")
    t0 = time.perf_counter()
    tree = pm.sample(DRAWS, tune=TUNE, chains=CHAINS, cores=2, model=model, random_seed=SEED,
                     nuts_sampler="pymc", progressbar=False, compute_convergence_checks=False)
    return tree, time.perf_counter() - t0


def part_bundled() -> dict:
    from nen_bayes import load_cohort
    from nen_bayes.bayes.design import make_design
    from nen_bayes.bayes.inference import fit
    from nen_bayes.bayes.spec import load_spec
    from nen_bayes.data import BUNDLED_COHORT
    from nen_bayes.re_nen import RE_NEN

    cohort = load_cohort(BUNDLED_COHORT, RE_NEN)
    spec = load_spec(ROOT / "models/weibull_ph_centre.toml")
    params = ["beta", "shape", "scale", "sd_centre", "z_centre"]
    rows, trees = {}, {}
    for sampler in ("nutpie", "pymc"):
        t0 = time.perf_counter()
        f = fit(spec, cohort, draws=DRAWS, tune=TUNE, chains=CHAINS, cores=2, seed=SEED,
                sampler=sampler, progressbar=False, log_lik=False, predictive=False,
                prior_draws=100)
        wall = time.perf_counter() - t0
        ess, rhat, div = diagnostics(f.tree, params)
        rows[f"headline ({sampler})"] = {"wall_s": wall, "divergences": div, "rhat_max": rhat,
                                         "ess_bulk_min": ess, "ess_per_s": ess / wall}
        trees[sampler] = f.tree
    design = make_design(spec, cohort, "os")
    tree, wall = naive_reference(design, spec)
    ess, rhat, div = diagnostics(tree, ["beta", "shape", "scale", "sd_centre", "u_centre"])
    rows["naive reference (pymc)"] = {"wall_s": wall, "divergences": div, "rhat_max": rhat,
                                      "ess_bulk_min": ess, "ess_per_s": ess / wall}
    ref = rows["naive reference (pymc)"]["ess_per_s"]
    for r in rows.values():
        r["ess_per_s_ratio"] = r["ess_per_s"] / ref
    # do the samplers agree? |mean difference| / sqrt(mcse_a^2 + mcse_b^2) for every parameter
    import arviz as az

    worst = 0.0
    names = ["beta", "shape", "scale", "sd_centre", "u_centre"]
    a = trees["nutpie"]["posterior"].to_dataset()[names]
    b = trees["pymc"]["posterior"].to_dataset()[names]
    ma, mb = az.mcse(a), az.mcse(b)
    for v in names:
        z = np.abs(a[v].mean(("chain", "draw")) - b[v].mean(("chain", "draw"))) / np.sqrt(
            ma[v] ** 2 + mb[v] ** 2)
        worst = max(worst, float(z.max()))
    return {"rows": rows, "sampler_agreement_max_z": worst}


def simulate_large(n=30_000, centres=100, seed=7):
    import pandas as pd

    rng = np.random.default_rng(seed)
    c = rng.integers(0, centres, n)
    u = rng.normal(0, 0.3, centres)
    line = rng.choice(["second_line", "salvage"], n)
    grade = rng.choice(["G1", "G2", "G3"], n, p=[0.4, 0.45, 0.15])
    burden = rng.choice(["low", "intermediate", "high"], n)
    extra = rng.choice(["no", "yes"], n)
    eta = (0.27 * (line == "salvage") + 0.35 * (grade == "G2") + 1.0 * (grade == "G3")
           + 0.35 * (burden == "intermediate") + 0.7 * (burden == "high")
           + 0.1 * (extra == "yes") + u[c])
    t_event = 100.0 * (rng.standard_exponential(n) * np.exp(-eta)) ** (1 / 1.15)
    t_cens = rng.uniform(12, 180, n)
    return pd.DataFrame({
        "patient_id": [f"P{i:05d}" for i in range(n)], "centre": [f"K{j:03d}" for j in c],
        "os_months": np.round(np.maximum(np.minimum(t_event, t_cens), 0.01), 2),
        "os_event": (t_event <= t_cens).astype(int), "line": line, "grade": grade,
        "tumour_burden": burden, "extrahepatic": extra})


def part_scale() -> dict:
    from nen_bayes import RE_NEN, load_cohort
    from nen_bayes.bayes.inference import fit, write_fit
    from nen_bayes.bayes.spec import load_spec

    frame = simulate_large()
    schema = RE_NEN.select(endpoints=["os"], factors=["line", "grade", "tumour_burden",
                                                      "extrahepatic"], responses=[])
    cohort = load_cohort(frame, schema)
    spec = load_spec(ROOT / "models/weibull_ph_centre.toml")
    t0 = time.perf_counter()
    f = fit(spec, cohort, draws=DRAWS, tune=TUNE, chains=CHAINS, cores=2, seed=SEED,
            progressbar=False)
    t_fit = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        path = write_fit(f, Path(tmp) / "fit.nc")
        size = path.stat().st_size
    wall = time.perf_counter() - t0
    ess, rhat, div = diagnostics(f.tree, ["beta", "shape", "scale", "sd_centre", "z_centre"])
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024 ** 2
    return {"n": len(frame), "centres": 100, "wall_s_fit": t_fit, "wall_s_total": wall,
            "file_mb": size / 1e6, "peak_rss_gb": peak, "divergences": div, "rhat_max": rhat,
            "ess_bulk_min": ess}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", choices=["bundled", "scale"])
    p.add_argument("--json", help="also write the figures to this JSON file")
    args = p.parse_args()
    out = {"cores": os.cpu_count()}
    if args.only in (None, "bundled"):
        print("SYNTHETIC DATA: the bundled cohort is simulated, not patient data.")
        b = part_bundled()
        out["bundled"] = b
        print(f"\nBundled cohort, {CHAINS} x {DRAWS} draws after {TUNE} tuning, "
              f"{os.cpu_count()} cores (wall includes compilation)")
        print(f"{'run':<26}{'wall s':>8}{'div':>6}{'R-hat':>8}{'min ESS':>9}{'ESS/s':>8}"
              f"{'ratio':>7}")
        for name, r in b["rows"].items():
            print(f"{name:<26}{r['wall_s']:8.1f}{r['divergences']:6d}{r['rhat_max']:8.3f}"
                  f"{r['ess_bulk_min']:9.0f}{r['ess_per_s']:8.1f}{r['ess_per_s_ratio']:7.2f}")
        print(f"samplers agree: max |mean difference| = {b['sampler_agreement_max_z']:.2f} "
              "combined MCSE (agreement: < 4)")
    if args.only in (None, "scale"):
        if args.only is None:  # a child process, so that its peak memory is its own
            with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
                subprocess.run([sys.executable, __file__, "--only", "scale", "--json",
                                tmp.name], check=True, stdout=subprocess.DEVNULL)
                s = json.loads(Path(tmp.name).read_text())["scale"]
        else:
            s = part_scale()
        out["scale"] = s
        print(f"\nScale: {s['n']} simulated patients in {s['centres']} centres, {CHAINS} x "
              f"{DRAWS}: fit {s['wall_s_fit']:.1f} s, with the NetCDF written "
              f"{s['wall_s_total']:.1f} s ({s['file_mb']:.0f} MB); peak memory "
              f"{s['peak_rss_gb']:.2f} GB; {s['divergences']} divergences, R-hat max "
              f"{s['rhat_max']:.3f}, min bulk ESS {s['ess_bulk_min']:.0f}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
