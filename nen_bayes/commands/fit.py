#!/usr/bin/env python3
"""Fit a Bayesian survival model (a shipped model, a model file or a formula) to a cohort and
store it.

Writes to --out DIR (created whole or not at all; an existing DIR needs --force):
  fit.nc                      DataTree (NetCDF-4): posterior, sample_stats, prior,
                              prior_predictive, log_likelihood (every unit, censored ones
                              included), posterior_predictive, observed_data, constant_data;
                              attrs: spec, spec hash, data hash, versions, seed, sampler settings.
                              Open with xarray.open_datatree(path) or nen_bayes.read_fit(path).
  effects.csv / effects.json  hazard ratios (posterior median, 95% CrI, P(HR < 1)), shape,
                              scale, median survival of a reference unit, between-centre SD
  prior_predictive.csv        what the prior implies: median survival and centre HRs (quantiles)
  prior_predictive.png/.svg   the same as a figure
  run.json                    settings, provenance, timings and sampler checks
  summary.txt                 the printed summary

Examples
--------
  nen-bayes fit --data bundled --model weibull_ph_centre --endpoint os --out results/fit_os
  nen-bayes fit --data bundled --model piecewise_ph_centre --endpoint hpfs --draws 2000 \\
      --seed 7 --sampler pymc --out results/pw_hpfs
  nen-bayes fit --data lung.csv --time time --event status --event-coding 1/2 --centre inst \\
      --row-ids --missing drop --time-unit days --model my_models/lung.toml --out results/lung
  nen-bayes fit --data bundled \\
      --formula "os ~ line + grade + tumour_burden + extrahepatic + (1 | centre)" --out results/f
  nen-bayes fit --data lung.csv --time time --event status --event-coding 1/2 --centre inst \\
      --row-ids --missing drop --time-unit days --formula "time ~ age + sex + (1 | inst)" \\
      --write-spec my_models/lung.toml          # writes the model file to edit; fits nothing

--model takes a shipped model by name (weibull_ph_centre, weibull_ph_pooled,
exponential_ph_centre, piecewise_ph_centre, ...; the files of nen_bayes/models/) or a model file.

A formula (--formula, the syntax of lme4, brms and bambi; see models/README.md) stands for a
model file: its left-hand side names the endpoint (os, the NAME of --endpoint NAME=TIME:EVENT,
or the --time column); terms are columns (numeric when every value is a number or declared with
--numeric; C(x) for a factor), scale(x) for an HR per SD, (1 | centre) for centre intercepts,
(1 + x | centre) for a centre-varying effect, (1 | centre/subject) for a nested level; --family
names the family (default weibull; proportional hazards: weibull, exponential, gompertz,
piecewise; accelerated failure time, reported as time ratios: weibull_aft, lognormal,
loglogistic, gengamma). Its priors are the headline model's
(weibull_ph_centre) but the baseline scale, placed from the data's follow-up (total
follow-up / events); --write-spec FILE saves the model as a file to edit.

Samplers: nutpie (default; the fastest on 2 cores) or pymc (PyMC's own NUTS). The same --seed,
data and settings give identical posteriors.

Convergence: every fit is checked (R-hat <= 1.01, bulk and tail ESS >= 100 per chain, no
divergent transition, E-BFMI >= 0.3); a fit that misses a check is still written, but
summary.txt and the printed summary open with NOT CONVERGED and the failed checks, run.json
("converged", "convergence") and the fit's attrs ("converged", "convergence_failed") record it,
and the command ends with exit code 3.

Bad input (exit code 2) includes a cohort, model file or formula that cannot be used and an
existing --out or --write-spec file without --force.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from nen_bayes.bayes.design import make_design
from nen_bayes.bayes.families import DEFAULT_FAMILY
from nen_bayes.bayes.formula import formula_model, parse_formula, spec_toml
from nen_bayes.bayes.inference import resolve_endpoint
from nen_bayes.bayes.spec import FAMILIES, in_time_unit, load_spec, spec_from_dict
from nen_bayes.cohorts.read import read_table
from nen_bayes.effects import with_checks, write_effects
from nen_bayes.errors import (
    EXIT_BAD_INPUT,
    EXIT_CHECKS_FAILED,
    EXIT_NOT_STARTED,
    EXIT_OK,
    OutputExistsError,
)
from nen_bayes.files import atomic_write_text, check_output_directory, output_directory
from nen_bayes.pipeline.cli import (
    add_cohort_options,
    add_sampling_options,
    add_verbosity_options,
    check_sampling_options,
    figure_formats,
    load_checked,
    load_options,
    main_guard,
    open_unit,
    positive_int,
    sampling_settings,
    schema_for,
    script_parser,
)
from nen_bayes.provenance import SYNTHETIC_NOTICE


def build_parser() -> argparse.ArgumentParser:
    """The options of ``nen-bayes fit``."""
    parser = script_parser("fit.py", __doc__, exit_codes=(EXIT_OK, EXIT_NOT_STARTED,
                                                          EXIT_BAD_INPUT, EXIT_CHECKS_FAILED))
    add_cohort_options(parser)
    m = parser.add_argument_group("model and sampling")
    m.add_argument("--model", metavar="SPEC",
                   help="model specification file, e.g. models/weibull_ph_centre(.toml)")
    m.add_argument("--formula", metavar="FORMULA",
                   help="a model formula instead of --model, e.g. "
                        "\"os ~ line + grade + age + (1 | centre)\" (see models/README.md)")
    m.add_argument("--family", choices=FAMILIES, default=None,
                   help="with --formula: the baseline hazard (default weibull)")
    m.add_argument("--write-spec", metavar="FILE",
                   help="with --formula: save its model as a model file to edit (and fit it "
                        "too when --out is given)")
    m.add_argument("--group", action="append", default=[], metavar="NAME=COL",
                   help="column of a grouping level of the model (e.g. subject=patient_no)")
    m.add_argument("--out", metavar="DIR", help="results directory (required unless --write-spec)")
    m.add_argument("--force", action="store_true",
                   help="replace an existing --out directory or --write-spec file")
    add_sampling_options(m)
    m.add_argument("--prior-draws", type=positive_int, default=1000, help="prior draws (1000)")
    m.add_argument("--conf-level", type=open_unit, default=0.95, help="credible level (0.95)")
    m.add_argument("--formats", type=figure_formats, default="png,svg",
                   help="figure formats (default png,svg)")
    add_verbosity_options(parser)
    return parser


def _with_group_columns(spec, items: list[str], parser):
    """The spec with the grouping columns named by --group NAME=COL."""
    groups = {}
    for item in items:
        if "=" not in item:
            parser.error(f"--group {item!r}: expected NAME=COL")
        k, v = item.split("=", 1)
        groups[k.strip()] = v.strip()
    unknown = set(groups) - {g.name for g in spec.groups}
    if unknown:
        parser.error(f"--group names {sorted(unknown)}, which are not groups of {spec.source}; "
                     f"its groups: {[g.name for g in spec.groups]}")
    if not groups:
        return spec
    return replace(spec, groups=tuple(replace(g, column=groups.get(g.name, g.column))
                                      for g in spec.groups))


def _check_model_options(args, parser) -> None:
    """One of --model and --formula; --family and --write-spec only with --formula; --out
    unless --write-spec."""
    if bool(args.model) == bool(args.formula):
        parser.error("give a model: --model SPEC or --formula FORMULA (one of them)")
    for name in ("family", "write_spec"):
        if getattr(args, name) and not args.formula:
            parser.error(f"--{name.replace('_', '-')} goes with --formula")
    if not args.out and not args.write_spec:
        parser.error("--out DIR is required (or --write-spec FILE with --formula)")


def _formula_model(args, parser):
    """The model of --formula, matched to the columns the cohort options and the file give."""
    formula = parse_formula(args.formula)
    options_schema, _ = schema_for(args, parser, extras=True)
    opts = load_options(args)
    raw = read_table(args.data, sep=opts["sep"], sheet=opts["sheet"])
    name = Path(args.write_spec).stem if args.write_spec else None
    return formula_model(formula, options_schema, family=args.family or DEFAULT_FAMILY, data=raw,
                         name=name)


def _write_spec(path: str, data: dict, formula: str, force: bool) -> None:
    header = (f"Model of the formula: {formula}\n"
              "Written by fit.py --write-spec: the default priors of the headline model\n"
              "(models/weibull_ph_centre.toml) and the baseline placed from the data's follow-up\n"
              "(see the baseline prior's reason). Edit it, then: fit.py --model " + path)
    atomic_write_text(path, spec_toml(data, header=header), force=force)


def check_design(spec, cohort) -> None:
    """The design of ``spec`` on ``cohort``, built and dropped: it raises on what a fit would
    refuse (an ordered covariate without a declared order, a factor with one level, ...)."""
    spec_in_unit, _ = in_time_unit(spec, cohort.schema.time_unit)
    make_design(spec_in_unit, cohort, resolve_endpoint(spec, cohort, None))


def _summary_text(tree, effects, ppc, title: str, notes, verdict, seconds: float) -> str:
    """The printed summary: a fit that missed the checks says so above its estimates (after
    the synthetic notice), then the few-groups notes, the estimates and the data changes by id
    (missing values, zero times)."""
    from nen_bayes.posterior.summary import fit_summary_text

    text = fit_summary_text(tree, effects, ppc, title=title, seconds=seconds)
    changes = "".join(f"data change: {n}\n" for n in notes)
    tail = SYNTHETIC_NOTICE + "\n" if text.endswith(SYNTHETIC_NOTICE + "\n") else ""
    text = text.removesuffix(tail) + changes + tail
    notice = SYNTHETIC_NOTICE + "\n" if text.startswith(SYNTHETIC_NOTICE + "\n") else ""
    groups = "".join(f"NOTE: {n}\n" for n in json.loads(tree.attrs["group_notes"]))
    return notice + verdict.banner() + groups + text.removeprefix(notice)


@main_guard
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_sampling_options(args, parser)
    _check_model_options(args, parser)
    if args.out:
        check_output_directory(args.out, force=args.force)
    if args.write_spec and Path(args.write_spec).exists() and not args.force:
        raise OutputExistsError(f"{args.write_spec} exists; pass --force to replace it "
                                "(nothing was written).")
    model = _formula_model(args, parser) if args.formula else load_spec(args.model)
    model = _with_group_columns(model, args.group, parser)
    schema, lenient = schema_for(args, parser, [model], one_endpoint=True)
    cohort = load_checked(args, schema, lenient, [model])
    if args.formula:
        file_dict = model.file_dict(cohort)
        spec = spec_from_dict(file_dict, source=model.source)
        # every check of the design (declared orders, levels, groups) before anything is
        # written, with or without --out
        check_design(spec, cohort)
        if args.write_spec:
            _write_spec(args.write_spec, file_dict, args.formula, args.force)
            print(f"written: {args.write_spec}")
    else:
        spec = model
    if not args.out:
        return 0

    from nen_bayes.bayes.inference import fit, write_fit
    from nen_bayes.plotting import plot_prior_predictive, save_figure
    from nen_bayes.posterior.diagnostics import convergence_verdict, fit_checks, record_verdict
    from nen_bayes.posterior.summary import (
        divergent_transitions,
        posterior_effects,
        prior_predictive_check,
        prior_predictive_draws,
    )

    if cohort.synthetic:
        print(SYNTHETIC_NOTICE)
    t0 = time.perf_counter()
    result = fit(spec, cohort, sampling=sampling_settings(args),
                 prior_draws=args.prior_draws, progressbar=not args.quiet)
    t_fit = time.perf_counter() - t0
    tree = result.tree
    verdict = convergence_verdict(tree)
    record_verdict(tree, verdict)
    effects = with_checks(posterior_effects(tree, conf_level=args.conf_level), fit_checks(tree))
    ppc = prior_predictive_check(tree)
    run = {
        "command": "fit.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "model": spec.name, "spec_source": spec.source, "spec_hash": spec.hash,
        "endpoint": tree.attrs["endpoint"], **cohort.provenance(),
        "sampler": args.sampler, "draws": args.draws, "tune": args.tune,
        "chains": args.chains, "seed": args.seed, "target_accept": args.target_accept,
        "wall_seconds_fit": round(t_fit, 2), "divergences": divergent_transitions(tree),
        "versions": json.loads(tree.attrs["versions"]),
        "converged": verdict.converged, "convergence": verdict.to_dict(),
        "group_notes": json.loads(tree.attrs["group_notes"]),
    }
    text = _summary_text(tree, effects, ppc, spec.title, cohort.notes, verdict, t_fit)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    with output_directory(args.out, force=args.force) as out:
        write_fit(result, out / "fit.nc")
        write_effects(effects, out / "effects", metadata={**run, "spec": spec.to_dict()})
        atomic_write_text(out / "prior_predictive.csv", ppc.to_csv(index=False))
        fig = plot_prior_predictive(prior_predictive_draws(tree),
                                    time_unit=tree.attrs["time_unit"],
                                    title=f"Prior predictive check: {spec.name}",
                                    synthetic=cohort.synthetic)
        save_figure(fig, out / "prior_predictive", formats)
        atomic_write_text(out / "run.json", json.dumps(run, indent=1, default=str) + "\n")
        atomic_write_text(out / "summary.txt", text)
    print(text.removeprefix(SYNTHETIC_NOTICE + "\n"), end="")  # notice printed before sampling
    print(f"written: {args.out}/")
    if not verdict.converged:
        print(f"checks failed: the fit missed its convergence checks "
              f"({', '.join(verdict.failed)}); see {args.out}/summary.txt", file=sys.stderr)
        return EXIT_CHECKS_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
