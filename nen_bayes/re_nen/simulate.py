r"""Simulate a multicentre RE/NEN cohort from a generative model with known truth.

Generative model (every number comes from a calibration file, see
:func:`load_calibration`; the bundled one is ``nen_bayes/data/calibration.toml``):

* **Centres** ``c = 1..K`` of fixed sizes; centre effect :math:`u_c = \tau z_c`,
  :math:`z_c \sim N(0, 1)`, shared by all three latent event processes (a centre with worse
  prognosis has earlier death and earlier progression).
* **Covariates** (line, grade, tumour burden, extrahepatic disease, vascularisation) drawn
  independently per unit from the calibrated proportions.
* **Latent event times**, each Weibull proportional hazards in months,

  .. math:: h(t \mid x) = \frac{k}{\sigma}\Big(\frac{t}{\sigma}\Big)^{k-1} e^{\eta},\qquad
            S(t \mid x) = \exp\{-(t/\sigma)^k e^{\eta}\},\qquad \eta = x^\top\beta + u_c,

  so :math:`e^{\beta_j}` is a hazard ratio, :math:`k` the shape (``k > 1``: hazard rising with
  time) and :math:`\sigma` the baseline scale (the time by which 63.2% of reference-level units
  have had the event). Three processes: death (D), hepatic progression (H) and extrahepatic
  progression (E). Their uniforms are coupled by a Gaussian copula with correlation
  :math:`\rho`, which keeps each margin exactly Weibull PH given the covariates:
  :math:`T = \sigma\,(-\log U / e^{\eta})^{1/k}` with :math:`U = \Phi(Z)`.
* **Endpoints**: OS = D; hepatic PFS = min(H, D); global PFS = min(H, E, D). Hence
  ``pfs <= hpfs <= os`` for every unit, and progression counts only if it precedes death.
* **Censoring**: staggered entry, uniform over the accrual period, administrative cut-off after
  the last entry plus a minimum follow-up, and independent exponential loss to follow-up.
* **Scans** (optional calibration section ``[scans]``): progression is seen at a scan, so the
  recorded progression time is the detecting scan; each unit's scans follow its centre's
  protocol (``interval_months``, jittered by ``jitter_months``) and the scan before the
  detecting one is the interval's lower bound (``hpfs/pfs_lower``, ``hpfs/pfs_upper``; a death
  is an exact time, a censored unit is right-censored at its censoring time). Drawn from a
  random stream of its own (seeded with ``[seed, 1]``), so that every other column is the
  same with or without ``[scans]``.
* **RECIST 1.1 at 3 and 12 months**: ``PD`` if global progression was observed by then;
  missing if the unit died or was censored before then without progression; otherwise ``CR``,
  ``PR`` or ``SD`` with calibrated probabilities.

Times are rounded to 0.01 month (0.3 days; never below 0.01). All randomness comes from
``numpy.random.default_rng(seed).random`` uniforms transformed by inverse CDFs, so the bundled
cohort is regenerated bit-identically from its seed.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from nen_bayes.data import CALIBRATION
from nen_bayes.errors import CalibrationError
from nen_bayes.re_nen.contract import RE_NEN, RECIST_LEVELS

__all__ = [
    "COVARIATES",
    "SimulatedCohort",
    "bundled_calibration_path",
    "load_calibration",
    "simulate_cohort",
]

COVARIATES = ("line", "grade", "tumour_burden", "extrahepatic", "vascularisation")
PROCESSES = ("death", "hepatic_progression", "extrahepatic_progression")


def bundled_calibration_path() -> Path:
    return CALIBRATION


# -- calibration -------------------------------------------------------------------------------
def _need(d: dict, key: str, where: str):
    if key not in d:
        raise CalibrationError(f"{where}: missing key {key!r}")
    return d[key]


def _check_reason(d: dict, where: str) -> None:
    if _need(d, "status", where) not in ("assumption", "published"):
        raise CalibrationError(f"{where}: status must be 'assumption' or 'published'")
    if not str(_need(d, "reason", where)).strip():
        raise CalibrationError(f"{where}: every value needs a reason")


def load_calibration(path: str | Path | None = None) -> dict:
    """Read and check a calibration file (TOML). Returns a plain dict with ``_hash`` added.

    Checked: every section carries ``status`` (``assumption``/``published``) and a ``reason``;
    centre sizes add up to ``n``; level names and log hazard ratios refer to the contract's
    levels; probabilities are in [0, 1] and add up to 1.
    """
    p = bundled_calibration_path() if path is None else Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise CalibrationError(f"{p}: cannot read the calibration file ({exc.strerror}); "
                               "expected a TOML file like the bundled calibration.toml") from None
    try:
        cal = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CalibrationError(f"{p}: not valid TOML: {exc}") from exc
    where = str(p)
    cohort = _need(cal, "cohort", where)
    n = int(_need(cohort, "n", f"{where} [cohort]"))
    centres = _need(cal, "centres", where)
    _check_reason(centres, f"{where} [centres]")
    sizes = _need(centres, "sizes", f"{where} [centres]")
    if sum(sizes) != n or min(sizes) < 1:
        raise CalibrationError(f"{where} [centres]: sizes {sizes} must be >= 1 and add up to "
                               f"n = {n}")
    if len(_need(centres, "labels", f"{where} [centres]")) != len(sizes):
        raise CalibrationError(f"{where} [centres]: one label per size")
    covs = _need(cal, "covariates", where)
    for name in COVARIATES:
        c = _need(covs, name, f"{where} [covariates]")
        w = f"{where} [covariates.{name}]"
        _check_reason(c, w)
        probs = _need(c, "probabilities", w)
        levels = RE_NEN.factor(name).levels
        if sorted(probs) != sorted(levels):
            raise CalibrationError(f"{w}: probabilities must name the levels {list(levels)}")
        if abs(sum(probs.values()) - 1) > 1e-9 or min(probs.values()) < 0:
            raise CalibrationError(f"{w}: probabilities must be >= 0 and add up to 1")
    for proc in PROCESSES:
        w = f"{where} [{proc}]"
        sec = _need(cal, proc, where)
        _check_reason(sec, w)
        if _need(sec, "shape", w) <= 0 or _need(sec, "scale_months", w) <= 0:
            raise CalibrationError(f"{w}: shape and scale_months must be > 0")
        for fac, effects in _need(sec, "log_hr", w).items():
            if fac not in COVARIATES:
                raise CalibrationError(f"{w}.log_hr: unknown covariate {fac!r}")
            levels = RE_NEN.factor(fac).levels
            bad = [lv for lv in effects if lv not in levels[1:]]
            if bad:
                raise CalibrationError(
                    f"{w}.log_hr.{fac}: {bad} are not non-reference levels {list(levels[1:])}")
    for key in ("copula", "follow_up", "recist"):
        _check_reason(_need(cal, key, where), f"{where} [{key}]")
    if "scans" in cal:
        w = f"{where} [scans]"
        _check_reason(cal["scans"], w)
        gaps = _need(cal["scans"], "interval_months", w)
        jitter = float(_need(cal["scans"], "jitter_months", w))
        if len(gaps) != len(sizes) or min(gaps) <= 0 or not 0 <= jitter < min(gaps):
            raise CalibrationError(f"{w}: interval_months needs one positive interval per "
                                   f"centre ({len(sizes)}) and 0 <= jitter_months < the "
                                   "shortest interval")
    for key in ("3", "12"):
        probs = _need(cal["recist"], f"non_progressor_{key}m", f"{where} [recist]")
        if sorted(probs) != ["CR", "PR", "SD"] or abs(sum(probs.values()) - 1) > 1e-9:
            raise CalibrationError(f"{where} [recist]: non_progressor_{key}m needs CR/PR/SD "
                                   "probabilities adding up to 1")
    cal["_hash"] = "sha256:" + hashlib.sha256(raw).hexdigest()
    cal["_path"] = str(p)
    return cal


# -- simulation --------------------------------------------------------------------------------
@dataclass(frozen=True)
class SimulatedCohort:
    """A simulated cohort in the RE/NEN contract and the truth that generated it."""

    data: pd.DataFrame
    truth: dict

    def to_csv_bytes(self) -> bytes:
        """The canonical CSV encoding (times with 2 decimals, ``\\n`` line ends)."""
        return self.data.to_csv(index=False, float_format="%.2f", lineterminator="\n").encode()


def _categorical(u: np.ndarray, probs: dict[str, float], levels: tuple[str, ...]) -> np.ndarray:
    p = np.array([probs[lv] for lv in levels])
    idx = np.searchsorted(np.cumsum(p)[:-1], u, side="right")
    return np.asarray(levels, dtype=object)[idx]


def _linear_predictor(covs: dict[str, np.ndarray], log_hr: dict) -> np.ndarray:
    n = len(next(iter(covs.values())))
    eta = np.zeros(n)
    for fac, effects in log_hr.items():
        for level, beta in effects.items():
            eta += beta * (covs[fac] == level)
    return eta


def simulate_cohort(calibration: dict | str | Path | None = None, seed: int | None = None,
                    n: int | None = None) -> SimulatedCohort:
    """Draw a cohort from the calibrated generative model (see the module docstring).

    Parameters
    ----------
    calibration
        A dict from :func:`load_calibration`, a path to a calibration file, or ``None`` for the
        bundled one.
    seed
        Seed of ``numpy.random.default_rng``; default: the calibration's ``cohort.seed``.
    n
        Cohort size; default the calibration's. Another ``n`` scales the centre sizes
        proportionally (largest remainder), keeping the number of centres.

    Returns
    -------
    SimulatedCohort
        ``data`` in the RE/NEN contract; ``truth`` with every generating parameter, the centre
        effects, the seed and the calibration's hash.
    """
    cal = calibration if isinstance(calibration, dict) else load_calibration(calibration)
    seed = int(cal["cohort"]["seed"] if seed is None else seed)
    sizes = _centre_sizes(np.array(cal["centres"]["sizes"]),
                          int(cal["cohort"]["n"] if n is None else n))
    rng = np.random.default_rng(seed)
    # the draws, in this order: centre effects, covariates, latent times, entry, loss to
    # follow-up, RECIST categories (the bundled cohort is regenerated from its seed)
    tau = float(cal["centres"]["sd_log_hazard"])
    u_c = tau * _normal(rng, len(sizes))
    centre_idx = np.repeat(np.arange(len(sizes)), sizes)
    N = int(sizes.sum())
    covs = {name: _categorical(rng.random(N), cal["covariates"][name]["probabilities"],
                               RE_NEN.factor(name).levels) for name in COVARIATES}
    latent = _latent_times(rng, cal, covs, u_c[centre_idx])
    cens = _censoring(rng, cal["follow_up"], N)
    endpoints, prog_seen = _endpoints(latent, cens)
    recist = _recist(rng, cal["recist"], prog_seen, endpoints)
    if "scans" in cal:  # a stream of its own: the columns above stay those without scans
        gaps = cal["scans"]["interval_months"]
        if len(gaps) != len(cal["centres"]["labels"]):
            raise CalibrationError(
                f"{cal.get('_path', 'calibration')} [scans]: interval_months has {len(gaps)} "
                f"intervals for {len(cal['centres']['labels'])} centres; give one per centre "
                "in the order of [centres] labels, or leave [scans] out")
        endpoints |= _scan_intervals(np.random.default_rng([seed, 1]), cal["scans"],
                                     centre_idx, endpoints, latent)
    # rows stay in centre blocks with ids in order: reproducible and readable
    width = len(str(N))
    labels = list(cal["centres"]["labels"])
    data = pd.DataFrame({
        "patient_id": [f"SYN{i + 1:0{width}d}" for i in range(N)],
        "centre": np.asarray(labels, dtype=object)[centre_idx],
        **endpoints,
        **{name: covs[name] for name in COVARIATES},
        "recist_3m": recist[3], "recist_12m": recist[12],
    })
    data = data[[c for c in RE_NEN.columns if c in data.columns]]
    return SimulatedCohort(data, _truth(cal, seed, sizes, u_c))


def _centre_sizes(base_sizes: np.ndarray, n_total: int) -> np.ndarray:
    """The calibration's centre sizes, scaled to ``n_total`` units (largest remainder)."""
    if n_total < len(base_sizes):
        raise ValueError(f"n = {n_total} is smaller than the number of centres "
                         f"({len(base_sizes)})")
    if n_total == base_sizes.sum():
        return base_sizes
    exact = base_sizes / base_sizes.sum() * n_total
    sizes = np.maximum(np.floor(exact).astype(int), 1)
    order = np.argsort(-(exact - np.floor(exact)), kind="stable")
    i = 0
    while sizes.sum() < n_total:
        sizes[order[i % len(sizes)]] += 1
        i += 1
    while sizes.sum() > n_total:
        j = int(np.argmax(sizes))
        sizes[j] -= 1
    return sizes


def _normal(rng: np.random.Generator, size) -> np.ndarray:
    """Inverse-CDF normals from uniforms: stable across numpy versions."""
    return ndtri(rng.random(size))


def _latent_times(rng: np.random.Generator, cal: dict, covs: dict[str, np.ndarray],
                  centre_effect: np.ndarray) -> dict[str, np.ndarray]:
    """Latent Weibull PH time of each process, the processes coupled by a Gaussian copula."""
    N = len(centre_effect)
    rho = float(cal["copula"]["rho"])
    corr = np.full((3, 3), rho) + (1 - rho) * np.eye(3)
    chol = np.linalg.cholesky(corr)
    z = _normal(rng, (N, 3)) @ chol.T
    u = ndtr(-z)  # upper tail: a high latent z gives an early event in every process
    latent = {}
    for j, proc in enumerate(PROCESSES):
        sec = cal[proc]
        eta = _linear_predictor(covs, sec["log_hr"]) + centre_effect
        k, sigma = float(sec["shape"]), float(sec["scale_months"])
        latent[proc] = sigma * (-np.log(u[:, j]) / np.exp(eta)) ** (1.0 / k)
    return latent


def _censoring(rng: np.random.Generator, fu: dict, N: int) -> np.ndarray:
    """Censoring time: administrative cut-off after staggered entry, or loss to follow-up."""
    accrual = float(fu["accrual_months"])
    entry = accrual * rng.random(N)
    admin = accrual + float(fu["minimum_follow_up_months"]) - entry
    loss = -np.log(rng.random(N)) / float(fu["loss_rate_per_month"])
    return np.minimum(admin, loss)


def _endpoints(latent: dict[str, np.ndarray],
               cens: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The contract's endpoint columns (times rounded to 0.01 month) and whether progression
    (not death) was observed."""
    death = latent["death"]
    hep = np.where(latent["hepatic_progression"] < death, latent["hepatic_progression"], np.inf)
    ext = np.where(latent["extrahepatic_progression"] < death,
                   latent["extrahepatic_progression"], np.inf)
    prog = np.minimum(hep, ext)

    def observe(t_event):
        t = np.minimum(t_event, cens)
        t = np.maximum(np.round(t, 2), 0.01)
        return t, (t_event <= cens).astype(np.int64)

    os_t, os_e = observe(death)
    hp_t, hp_e = observe(np.minimum(hep, death))
    pf_t, pf_e = observe(np.minimum(prog, death))
    columns = {"os_months": os_t, "os_event": os_e, "hpfs_months": hp_t, "hpfs_event": hp_e,
               "pfs_months": pf_t, "pfs_event": pf_e}
    return columns, np.isfinite(prog) & (prog <= cens)


def _scan_intervals(rng: np.random.Generator, scans: dict, centre_idx: np.ndarray,
                    endpoints: dict[str, np.ndarray],
                    latent: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The interval columns of hepatic and global PFS: the recorded progression time is the
    detecting scan (upper), the scan one protocol interval (jittered) before it the lower
    bound (0 when that falls before treatment); a death is exact (lower = upper); a censored
    unit is right-censored at its time (upper empty)."""
    gap = np.asarray(scans["interval_months"], float)[centre_idx]
    jitter = float(scans["jitter_months"])
    death = latent["death"]
    out = {}
    for name in ("hpfs", "pfs"):
        t, e = endpoints[f"{name}_months"], endpoints[f"{name}_event"]
        by_death = (e == 1) & (np.abs(t - endpoints["os_months"]) < 1e-9) & \
            (endpoints["os_event"] == 1) & np.isfinite(death)
        before = gap + jitter * (2.0 * rng.random(len(t)) - 1.0)
        lower = np.where((e == 1) & ~by_death, np.maximum(np.round(t - before, 2), 0.0), t)
        out[f"{name}_lower"] = lower
        out[f"{name}_upper"] = np.where(e == 1, t, np.nan)
    return out


def _recist(rng: np.random.Generator, rec: dict, prog_seen: np.ndarray,
            endpoints: dict[str, np.ndarray]) -> dict[int, np.ndarray]:
    """RECIST category at 3 and 12 months: PD after observed progression, missing when no
    longer followed, else CR/PR/SD with the calibrated probabilities."""
    pf_t, os_t = endpoints["pfs_months"], endpoints["os_months"]
    recist = {}
    for months in (3, 12):
        probs = rec[f"non_progressor_{months}m"]
        draw = _categorical(rng.random(len(pf_t)), probs, ("CR", "PR", "SD"))
        # from the recorded (rounded) times, so that the file is self-consistent
        progressed = prog_seen & (pf_t <= months)
        under_follow_up = os_t > months
        recist[months] = np.where(progressed, "PD", np.where(under_follow_up, draw, None))
    return recist


def _truth(cal: dict, seed: int, sizes: np.ndarray, u_c: np.ndarray) -> dict:
    """Every generating parameter, the centre effects drawn, the seed and the calibration."""
    labels = list(cal["centres"]["labels"])
    fu = cal["follow_up"]
    return {
        "synthetic": True,
        "seed": seed,
        "n": int(sizes.sum()),
        "calibration_hash": cal["_hash"],
        "centres": {
            "labels": labels,
            "sizes": [int(s) for s in sizes],
            "sd_log_hazard": float(cal["centres"]["sd_log_hazard"]),
            "effects": {lab: float(v) for lab, v in zip(labels, u_c, strict=True)},
        },
        "processes": {
            proc: {"shape": float(cal[proc]["shape"]),
                   "scale_months": float(cal[proc]["scale_months"]),
                   "log_hr": cal[proc]["log_hr"]}
            for proc in PROCESSES
        },
        "copula_rho": float(cal["copula"]["rho"]),
        "follow_up": {k: fu[k] for k in ("accrual_months", "minimum_follow_up_months",
                                         "loss_rate_per_month")},
        "parameterisation": "Weibull PH: S(t|x) = exp(-(t/scale)^shape * exp(x'beta + u_c))",
        "recist_levels": list(RECIST_LEVELS),
        **({"scans": {k: cal["scans"][k] for k in ("interval_months", "jitter_months")}}
           if "scans" in cal else {}),
    }


def truth_json(sim: SimulatedCohort, data_hash: str) -> str:
    """The truth file's text: the ground truth plus the hash of the data file it belongs to."""
    return json.dumps({**sim.truth, "data_hash": data_hash}, indent=2, sort_keys=True) + "\n"
