#!/usr/bin/env python3
"""One headline fit end to end (``scripts/fit.py``) against a hand-written NumPyro model of the
same likelihood, measured in the same run.

Both sample the headline model (models/weibull_ph_centre.toml): Weibull proportional hazards,
the same four categorical covariates (treatment-coded, the spec's reference levels), non-centred
centre intercepts ``u = sd * z``, right-censoring (``d log h(t) + log S(t)`` per unit) and the
spec's priors; 4 chains x 1000 draws after 1000 tuning steps.

* ``fit.py``: a fresh process, timed from process start to the last file written (fit.nc with
  the prior, log-likelihood and predictive groups, effects, prior predictive figure, summary).
* NumPyro: a fresh process as well; the wall time counted is JAX compilation plus sampling
  (``MCMC.run``), not the interpreter start or the JAX import, i.e. the NumPyro model is
  favoured. Its chains run in parallel on as many host devices as there are CPU cores.

Reported per cohort: wall s, min bulk ESS over every parameter (beta, shape, scale, sd_centre,
z_centre), divergences, ESS per wall second, and fit.py's ratio to NumPyro's ESS/s.

Cohorts: the bundled cohort (SYNTHETIC: 297 units, 7 centres of 88 to 15 units), and a cohort
simulated with known truth of the same size and centre sizes (another draw of the same design).

``--jax-backend`` also runs fit.py with nutpie's JAX backend (``backend="jax",
gradient_backend="jax"``) in place of Numba, JAX's persistent compilation cache in
``~/.cache/nen-bayes/jax`` (a first run fills it; later runs read it), as ``fit_jax``.

Needs the optional ``bench`` dependencies (``pip install -e .[bench]``: numpyro, jax).
Usage: benchmarks/bench_numpyro.py [--repeats N] [--baseline DIR] [--jax-backend] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DRAWS, TUNE, CHAINS, SEED = 1000, 1000, 4, 2026
PARAMS = ["beta", "shape", "scale", "sd_centre", "z_centre"]
BUNDLED = ROOT / "nen_bayes/data/synthetic_cohort.csv"
CENTRE_SIZES = (88, 64, 45, 36, 27, 22, 15)


def simulate_cohort(path: Path, seed: int = 11) -> Path:
    """A cohort like the bundled one (297 units; centres of 88, 64, 45, 36, 27, 22, 15 units)
    drawn from the headline model with known truth; written as CSV with the bundled columns."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    c = np.repeat(np.arange(len(CENTRE_SIZES)), CENTRE_SIZES)
    n = len(c)
    u = rng.normal(0, 0.3, len(CENTRE_SIZES))
    line = rng.choice(["second_line", "salvage"], n)
    grade = rng.choice(["G1", "G2", "G3"], n, p=[0.4, 0.45, 0.15])
    burden = rng.choice(["low", "intermediate", "high"], n)
    extra = rng.choice(["no", "yes"], n)
    eta = (0.27 * (line == "salvage") + 0.35 * (grade == "G2") + 1.0 * (grade == "G3")
           + 0.35 * (burden == "intermediate") + 0.7 * (burden == "high")
           + 0.1 * (extra == "yes") + u[c])
    t_event = 40.0 * (rng.standard_exponential(n) * np.exp(-eta)) ** (1 / 1.15)
    t_cens = rng.uniform(12, 96, n)
    frame = pd.read_csv(BUNDLED, nrows=0)
    out = {col: [""] * n for col in frame.columns}
    out.update({
        "patient_id": [f"S{i:03d}" for i in range(n)], "centre": [f"C{j + 1}" for j in c],
        "os_months": np.round(np.maximum(np.minimum(t_event, t_cens), 0.01), 2),
        "os_event": (t_event <= t_cens).astype(int), "line": line, "grade": grade,
        "tumour_burden": burden, "extrahepatic": extra})
    # the other endpoints are not used by the OS model; copy OS so the file validates
    for ep in ("hpfs", "pfs"):
        out[f"{ep}_months"], out[f"{ep}_event"] = out["os_months"], out["os_event"]
    pd.DataFrame(out)[list(frame.columns)].to_csv(path, index=False)
    return path


def min_ess(posterior) -> float:
    import arviz as az

    ess = az.ess(posterior[PARAMS], method="bulk")
    return min(float(ess[v].min()) for v in PARAMS)


#: fit.py with nutpie's JAX backend: nutpie.compile_pymc_model told backend="jax" whatever
#: PyMC asks, and JAX's persistent compilation cache switched on (run by ``python -c``).
JAX_LAUNCHER = """
import os, runpy, sys
import jax
jax.config.update("jax_compilation_cache_dir", os.path.expanduser("~/.cache/nen-bayes/jax"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
import nutpie
_compile = nutpie.compile_pymc_model
def _jax(model, **kw):
    kw.update(backend="jax", gradient_backend="jax")
    return _compile(model, **kw)
nutpie.compile_pymc_model = _jax
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run_fit_py(data: Path, out: Path, root: Path = ROOT, jax: bool = False) -> dict:
    """scripts/fit.py (of the source tree ``root``) in a fresh process: wall from process start
    to files written. ``jax``: with nutpie's JAX backend (:data:`JAX_LAUNCHER`)."""
    from nen_bayes.bayes.inference import read_fit

    env = {**os.environ, "PYTHONPATH": str(root)}
    launch = [sys.executable, "-c", JAX_LAUNCHER] if jax else [sys.executable]
    cmd = [*launch, str(root / "scripts/fit.py"), "--data", str(data), "--model",
           str(root / "models/weibull_ph_centre"), "--endpoint", "os", "--quiet",
           "--draws", str(DRAWS), "--tune", str(TUNE), "--chains", str(CHAINS),
           "--seed", str(SEED), "--out", str(out)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=root, stdout=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - t0
    tree = read_fit(out / "fit.nc")
    ess = min_ess(tree["posterior"].to_dataset())
    div = int(tree["sample_stats"]["diverging"].sum())
    return {"wall_s": wall, "ess_bulk_min": ess, "divergences": div, "ess_per_s": ess / wall,
            "centring": tree.attrs.get("centring", "")}


def numpyro_child(data: str, out: str) -> None:
    """Child process: the hand-written NumPyro model, timed from compilation to the last draw."""
    os.environ.setdefault("XLA_FLAGS", f"--xla_force_host_platform_device_count={CHAINS}")
    import numpyro

    numpyro.set_host_device_count(CHAINS)
    import jax
    import jax.numpy as jnp
    import numpyro.distributions as dist
    import xarray as xr
    from numpyro.infer import MCMC, NUTS

    from nen_bayes import RE_NEN, load_cohort
    from nen_bayes.bayes.design import make_design
    from nen_bayes.bayes.spec import load_spec

    spec = load_spec(ROOT / "models/weibull_ph_centre.toml")
    schema = RE_NEN.select(endpoints=["os"], factors=["line", "grade", "tumour_burden",
                                                      "extrahepatic"], responses=[])
    cohort = load_cohort(data, schema)
    design = make_design(spec, cohort, "os")
    pri = {k: v.params for k, v in spec.priors.items()}
    X = jnp.asarray(design.X)
    cidx = jnp.asarray(design.groups[0].index)
    t = jnp.asarray(design.time)
    d = jnp.asarray(design.event.astype(float))
    n_centre = len(design.coords()["centre"])

    def model():
        beta = numpyro.sample("beta", dist.Normal(pri["coefficient"]["mu"],
                                                  pri["coefficient"]["sigma"])
                              .expand([X.shape[1]]))
        shape = numpyro.sample("shape", dist.LogNormal(pri["shape"]["mu"],
                                                       pri["shape"]["sigma"]))
        scale = numpyro.sample("scale", dist.LogNormal(pri["scale"]["mu"],
                                                       pri["scale"]["sigma"]))
        sd = numpyro.sample("sd_centre", dist.HalfNormal(pri["group_sd"]["sigma"]))
        z = numpyro.sample("z_centre", dist.Normal(0.0, 1.0).expand([n_centre]))
        eta = X @ beta + sd * z[cidx]
        lt = jnp.log(t) - jnp.log(scale)
        ll = d * (jnp.log(shape) - jnp.log(scale) + (shape - 1.0) * lt + eta) - jnp.exp(
            shape * lt + eta)
        numpyro.factor("loglik", ll.sum())

    mcmc = MCMC(NUTS(model), num_warmup=TUNE, num_samples=DRAWS, num_chains=CHAINS,
                chain_method="parallel", progress_bar=False)
    t0 = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(SEED), extra_fields=("diverging",))
    samples = mcmc.get_samples(group_by_chain=True)
    jax.block_until_ready(samples)
    wall = time.perf_counter() - t0
    post = xr.Dataset({k: (("chain", "draw", *[f"{k}_dim"] * (np.ndim(v) - 2)), np.asarray(v))
                       for k, v in samples.items()})
    div = int(np.asarray(mcmc.get_extra_fields()["diverging"]).sum())
    ess = min_ess(post)
    Path(out).write_text(json.dumps({"wall_s": wall, "ess_bulk_min": ess, "divergences": div,
                                     "ess_per_s": ess / wall, "devices": jax.device_count()}))


def run_numpyro(data: Path, tmp: Path) -> dict:
    out = tmp / "numpyro.json"
    subprocess.run([sys.executable, __file__, "--numpyro-child", str(data), str(out)],
                   check=True, cwd=ROOT)
    return json.loads(out.read_text())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=1, help="runs of each (1)")
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.add_argument("--baseline", metavar="DIR",
                   help="also run fit.py of another source tree (e.g. an export of an earlier "
                        "commit) in the same run, as 'fit_base'")
    p.add_argument("--jax-backend", action="store_true",
                   help="also run fit.py with nutpie's JAX backend, as 'fit_jax'")
    p.add_argument("--numpyro-child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.numpyro_child:
        numpyro_child(*args.numpyro_child)
        return 0
    print("SYNTHETIC DATA: both cohorts are simulated, not patient data.")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cohorts = {"bundled (297 units, 7 centres)": BUNDLED,
                   "simulated (297 units, 7 centres)": simulate_cohort(tmp / "sim.csv")}
        for rep in range(args.repeats):
            for name, data in cohorts.items():
                load = os.getloadavg()[0]
                f = run_fit_py(data, tmp / f"fit_{rep}_{len(rows)}")
                n = run_numpyro(data, tmp)
                row = {"cohort": name, "repeat": rep, "load_1min": load, "fit_py": f,
                       "numpyro": n, "ratio_ess_per_s": f["ess_per_s"] / n["ess_per_s"]}
                if args.baseline:
                    row["fit_base"] = run_fit_py(data, tmp / f"base_{rep}_{len(rows)}",
                                                 Path(args.baseline).resolve())
                    row["ratio_base"] = row["fit_base"]["ess_per_s"] / n["ess_per_s"]
                if args.jax_backend:
                    row["fit_jax"] = run_fit_py(data, tmp / f"jax_{rep}_{len(rows)}", jax=True)
                    row["ratio_jax"] = row["fit_jax"]["ess_per_s"] / n["ess_per_s"]
                rows.append(row)
    print(f"{CHAINS} chains x {DRAWS} draws after {TUNE} tuning; {os.cpu_count()} cores")
    print(f"{'cohort':<34}{'run':<9}{'wall s':>8}{'min ESS':>9}{'div':>5}{'ESS/s':>8}"
          f"{'ratio':>7}{'load':>6}")
    for r in rows:
        for key in ("fit_base", "fit_py", "fit_jax", "numpyro"):
            if key not in r:
                continue
            x = r[key]
            ratio = {"fit_py": f"{r['ratio_ess_per_s']:7.2f}",
                     "fit_base": f"{r.get('ratio_base', 0):7.2f}",
                     "fit_jax": f"{r.get('ratio_jax', 0):7.2f}"}.get(key, " " * 7)
            print(f"{r['cohort']:<34}{key:<9}{x['wall_s']:8.1f}{x['ess_bulk_min']:9.0f}"
                  f"{x['divergences']:5d}{x['ess_per_s']:8.1f}{ratio}{r['load_1min']:6.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
