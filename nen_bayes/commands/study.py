#!/usr/bin/env python3
"""Simulation studies on a Dask cluster: calibration (sbc), operating characteristics, assurance.

Sub-commands (each: `nen-bayes study KIND --help`):
  sbc         simulation-based calibration of a model file on a design (the bundled cohort's,
              or --data): ranks of every parameter's true value, uniformity tests, a verdict
  operating   operating characteristics of the reanalysis over a grid of true HRs and
              between-centre SDs: how often P(HR < 1) exceeds --threshold, CrI coverage, bias
              and RMSE, beside the log-rank test's rejection rate on the same cohorts
  assurance   from a fit (fit.nc): the probability that a next study of N units in K centres
              reaches P(HR < 1) > --threshold, and the log-rank power, over a grid of N

Every task is one seeded fit of a simulated cohort, reproducible from (--seed, task index): the
same study gives the same table on one core or on a cluster. The tasks run on a Dask cluster:
a LocalCluster of --workers single-threaded processes on this machine (default: one per core;
on 127.0.0.1, its dashboard's address printed), or an existing cluster with --scheduler ADDRESS
(start one with `dask scheduler --host 127.0.0.1`, then `dask worker ADDRESS --nthreads 1`;
each worker needs the same versions of nen-bayes, PyMC, Dask and NumPy as this machine, which
is checked before any task). Each worker compiles a model once per model and design (keyed by a
hash of the design's data) and refits it to every task's outcomes.

Writes to --out DIR as the study runs:
  results.parts/      one Parquet part file per batch of finished tasks, as they finish
  results.parquet     one row per task (summaries only; failed tasks with their error): the
                      parts gathered at the end and at a --resume
  study.json          what identifies the study (settings, plan hash): --resume checks it
and at the end (from the whole table):
  KIND.txt            the table and the verdict (also printed)
  KIND.csv            the kind's summary table
  figures (.png/.svg)  sbc_ranks and sbc_ecdf (rank histograms, ECDF differences with
                      simultaneous 95% bands), operating, assurance
  run.json            settings, provenance of the design, the engine's figures (workers, fits
                      per minute), versions

Examples
--------
  nen-bayes study sbc --data bundled --model weibull_ph_centre --reps 200 --draws 250 \\
      --tune 250 --chains 2 --out results/sbc
  nen-bayes study operating --reps 100 --hr 0.6,0.8,1.0 --sd 0,0.5 --out results/oc
  nen-bayes study assurance --fit results/fit_os/fit.nc --n 100,200,400 --out results/next
  nen-bayes study sbc --reps 1000 --scheduler tcp://10.0.0.5:8786 --out results/sbc_big
  nen-bayes study sbc --reps 1000 --scheduler tcp://10.0.0.5:8786 --out results/sbc_big --resume

An interrupted study (Ctrl-C, a killed process, a lost machine) keeps every finished task in
DIR and ends with exit code 130; the same command with --resume runs the tasks that are missing
or failed (--quiet, --verbose, --workers, --scheduler and --formats may differ: they change no
task's row).

Failed tasks are reported, not fatal (exit code 0). Bad input (exit code 2) includes an unknown
model file, zero replications, a cohort that breaks its contract, a scheduler that does not
answer within --scheduler-timeout, has no workers or whose workers run other versions, an
existing non-empty --out without --resume or --force, and a --resume of another study or of a
damaged results.parquet.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from nen_bayes.bayes.spec import load_spec
from nen_bayes.data import BUNDLED_COHORT
from nen_bayes.errors import OutputExistsError, ResultError
from nen_bayes.files import atomic_write_text
from nen_bayes.pipeline.cli import (
    EXIT_BAD_INPUT,
    add_cohort_options,
    add_contrast_term_options,
    add_sampling_options,
    add_verbosity_options,
    check_sampling_options,
    contrast_from_args,
    figure_formats,
    load_checked,
    main_guard,
    non_negative_float,
    non_negative_float_list,
    open_unit,
    positive_float,
    positive_float_list,
    positive_int,
    positive_int_list,
    sampling_settings,
    schema_for,
    script_parser,
)
from nen_bayes.pipeline.settings import DEFAULT_MODELS
from nen_bayes.provenance import SYNTHETIC_NOTICE
from nen_bayes.studies.engine import (
    CONNECT_TIMEOUT,
    ClusterError,
    check_scheduler,
    identity,
    run_study,
)

KINDS = ("sbc", "operating", "assurance")
#: Replications by default: per study (sbc), per grid cell (operating), per N (assurance).
DEFAULT_REPS = 100
#: Figures of each kind: plotting function -> file stem.
FIGURES = {"sbc": {"plot_sbc_ranks": "sbc_ranks", "plot_sbc_ecdf": "sbc_ecdf"},
           "operating": {"plot_operating": "operating"},
           "assurance": {"plot_assurance": "assurance"}}


def _common() -> argparse.ArgumentParser:
    """The options every kind shares: the design's cohort, sampling, the cluster, the output."""
    common = argparse.ArgumentParser(add_help=False)
    add_cohort_options(common)
    for action in common._actions:  # the bundled cohort's design unless --data names another
        if action.dest == "data":
            action.required, action.default = False, str(BUNDLED_COHORT)
            action.help += " (default: the bundled synthetic cohort)"
        if action.dest == "cores":  # one fit per single-threaded worker
            action.help = ("parallel chains within one fit (default 1: a worker runs a fit's "
                           "chains one after another; the workers run fits side by side)")
    s = common.add_argument_group("sampling of every fit (defaults as fit.py)")
    add_sampling_options(s, sampler=False)
    s.add_argument("--reps", type=positive_int, default=DEFAULT_REPS,
                   help=f"replications: of the study (sbc), per grid cell (operating), per N "
                        f"(assurance) ({DEFAULT_REPS})")
    c = common.add_argument_group("cluster and output")
    c.add_argument("--out", required=True, metavar="DIR", help="results directory")
    c.add_argument("--resume", action="store_true",
                   help="continue the study in --out: run the tasks it has no finished row "
                        "for (failed ones again)")
    c.add_argument("--force", action="store_true", help="replace an existing --out")
    c.add_argument("--workers", type=positive_int,
                   help="processes of the LocalCluster (default: one per core)")
    c.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on the Dask cluster of this scheduler (e.g. tcp://10.0.0.5:8786) "
                        "instead of a LocalCluster")
    c.add_argument("--scheduler-timeout", type=positive_float, default=CONNECT_TIMEOUT,
                   metavar="SECONDS",
                   help=f"how long each step of connecting to --scheduler may take: its "
                        f"answer, its workers, their versions ({CONNECT_TIMEOUT:g})")
    c.add_argument("--formats", type=figure_formats, default="png,svg",
                   help="figure formats (default png,svg)")
    # -q/-v after KIND as well as before it; no default here, so that a sub-command leaves
    # the value given before KIND (or the top-level parser's default) as it is
    add_verbosity_options(common)
    for action in common._actions:
        if action.dest in ("quiet", "verbose"):
            action.default = argparse.SUPPRESS
    return common


def _contrast_options(parser) -> None:
    g = parser.add_argument_group("contrast")
    add_contrast_term_options(g)
    g.add_argument("--threshold", type=open_unit, default=0.95,
                   help="the reanalysis 'finds' a benefit when P(HR < 1) exceeds this (0.95)")


def build_parser() -> argparse.ArgumentParser:
    """The options of ``nen-bayes study`` and of its sub-commands sbc, operating, assurance."""
    parser = script_parser("study.py", __doc__)
    add_verbosity_options(parser)
    sub = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    common = _common()
    fmt = argparse.RawDescriptionHelpFormatter
    sbc = sub.add_parser("sbc", parents=[common], formatter_class=fmt,
                         help="simulation-based calibration of a model file",
                         description="Simulation-based calibration of a model on a design.")
    sbc.add_argument("--model", default=DEFAULT_MODELS[0], metavar="SPEC",
                     help=f"model file or shipped model name (default {DEFAULT_MODELS[0]})")
    sbc.add_argument("--ranks-of", type=positive_int, default=99, metavar="L",
                     help="thinned posterior draws each true value is ranked among (99)")
    sbc.add_argument("--bins", type=positive_int, default=10,
                     help="bins of the rank histograms and chi-square tests (10)")
    sbc.add_argument("--alpha", type=open_unit, default=0.05,
                     help="family-wise level of the uniformity tests (0.05)")
    op = sub.add_parser("operating", parents=[common], formatter_class=fmt,
                        help="operating characteristics over true HRs and centre SDs",
                        description="Operating characteristics of the reanalysis.")
    op.add_argument("--model", default=DEFAULT_MODELS[0], metavar="SPEC",
                    help=f"the reanalysis' model (default {DEFAULT_MODELS[0]})")
    op.add_argument("--hr", type=positive_float_list, default="0.6,0.7,0.8,0.9,1.0,1.1",
                    help="true HRs of the contrast, comma-separated (0.6,...,1.1)")
    op.add_argument("--sd", type=non_negative_float_list, default="0,0.2,0.5",
                    help="true between-centre SDs, comma-separated (0,0.2,0.5)")
    _contrast_options(op)
    asr = sub.add_parser("assurance", parents=[common], formatter_class=fmt,
                         help="assurance of a next study, from a fit",
                         description="Assurance of a prospective study, from a fitted "
                                     "posterior.")
    asr.add_argument("--fit", required=True, metavar="FILE",
                     help="a fit (fit.nc of fit.py): its posterior is the design prior")
    asr.add_argument("--model", default=None, metavar="SPEC",
                     help="the model file the fit was made with (default: the file its record "
                          "names; checked against the fit's model hash)")
    asr.add_argument("--n", type=positive_int_list, default="100,200,300,500",
                     help="sizes N of the next study, comma-separated (100,200,300,500)")
    asr.add_argument("--centres", type=positive_int, default=7, help="centres K (7)")
    asr.add_argument("--accrual", type=non_negative_float, default=36.0,
                     help="accrual period, in the cohort's time unit (36)")
    asr.add_argument("--follow-up", type=positive_float, default=24.0,
                     help="follow-up after the last unit enters (24)")
    asr.add_argument("--dropout", type=non_negative_float, default=0.0,
                     help="rate of loss to follow-up per time unit (0)")
    _contrast_options(asr)
    return parser


def _refuse_existing(args) -> None:
    """An existing non-empty --out needs --resume or --force (checked before anything runs)."""
    out = Path(args.out)
    if args.resume and args.force:
        raise OutputExistsError("--resume continues the study in --out, --force replaces it: "
                                "give one of them")
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} exists and is not a directory.")
    if out.exists() and any(out.iterdir()) and not (args.resume or args.force):
        raise OutputExistsError(f"{out} exists and is not empty; pass --resume to continue the "
                                "study it holds, or --force to replace it (nothing was "
                                "written).")


def _read_fit(path: str, read_fit):
    """The stored fit of --fit, or a ResultError naming the file and what was expected."""
    if not Path(path).is_file():
        raise ResultError(f"--fit {path}: no such file (give the fit.nc that fit.py wrote)")
    try:
        tree = read_fit(path)
    except (OSError, ValueError) as exc:
        raise ResultError(f"--fit {path}: not a fit that fit.py wrote ({exc})") from None
    if "posterior" not in tree.children or "spec_hash" not in tree.attrs:
        raise ResultError(f"--fit {path}: no posterior or model record in it; give the fit.nc "
                          "that fit.py wrote")
    return tree


def _kind(args, parser, sampling):
    """The study kind of the sub-command and the cohort of its design."""
    from nen_bayes.bayes.inference import read_fit

    tree = None
    if args.kind == "assurance":
        tree = _read_fit(args.fit, read_fit)
        spec = load_spec(args.model or tree.attrs.get("spec_source", ""))
        if spec.hash != tree.attrs.get("spec_hash"):
            raise ResultError(
                f"--fit {args.fit} was fitted with the model {tree.attrs.get('model')!r} "
                f"({tree.attrs.get('spec_source')}); {spec.source} is not that model as it "
                "stands now (its specification's hash differs): give the model file the fit "
                "was made with, --model FILE")
        if not (args.endpoint or args.time):  # the fit's endpoint, of the same cohort columns
            args.endpoint = [tree.attrs["endpoint"]]
    else:
        spec = load_spec(args.model)
    schema, lenient = schema_for(args, parser, [spec], one_endpoint=True)
    cohort = load_checked(args, schema, lenient, [spec])
    from nen_bayes.studies.assurance import AssuranceStudy, design_prior
    from nen_bayes.studies.operating import OperatingStudy
    from nen_bayes.studies.sbc import SBCStudy

    common = {"spec": spec, "cohort": cohort, "reps": args.reps, "seed": args.seed,
              "sampling": sampling}
    try:
        if args.kind == "sbc":
            kind = SBCStudy(**common, n_draws=args.ranks_of, bins=args.bins, alpha=args.alpha)
        elif args.kind == "operating":
            kind = OperatingStudy(**common, contrast=contrast_from_args(args, parser),
                                  hrs=tuple(args.hr), sds=tuple(args.sd),
                                  threshold=args.threshold)
        else:
            posterior = design_prior(tree["posterior"].to_dataset())
            kind = AssuranceStudy(**common, posterior=posterior,
                                  contrast=contrast_from_args(args, parser), ns=tuple(args.n),
                                  centres=args.centres, accrual=args.accrual,
                                  follow_up=args.follow_up, dropout=args.dropout,
                                  threshold=args.threshold,
                                  endpoint=tree.attrs.get("endpoint"))
    except ValueError as exc:
        parser.error(f"{args.kind}: {exc}")
    return kind, spec, cohort


#: Options that change no task's row: a --resume may give them otherwise (the data are compared
#: by their hash instead of their path, which may be written another way).
NOT_IDENTIFYING = frozenset({"out", "resume", "force", "workers", "scheduler",
                             "scheduler_timeout", "formats", "quiet", "verbose", "data"})


def _settings(args, spec, cohort) -> dict:
    """What identifies the study (--resume refuses another): every option that changes a
    task's row, the model and the design's data."""
    options = {k: v for k, v in vars(args).items() if k not in NOT_IDENTIFYING}
    return identity({**options, "model_hash": spec.hash, "data_hash": cohort.data_hash})


def _write_outputs(args, kind, run, cohort, settings: dict, seconds: float):
    """The kind's summary of the whole table, its figures and run.json (atomically)."""
    import matplotlib.pyplot as plt

    import nen_bayes.plotting as plotting
    from nen_bayes.bayes.inference import versions

    result = kind.summarise(run.table)
    out = Path(args.out)
    text = result.to_text().rstrip("\n") + "\n" + run.to_text()
    atomic_write_text(out / f"{args.kind}.txt", text, force=True)
    atomic_write_text(out / f"{args.kind}.csv", result.table.to_csv(index=False), force=True)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    figures = []
    for name, stem in FIGURES[args.kind].items():
        fig = getattr(plotting, name)(result)
        figures += [p.name for p in plotting.save_figure(fig, out / stem, formats,
                                                         force=True)]
        plt.close(fig)
    record = {
        "command": "study.py " + " ".join(sys.argv[1:]),
        "kind": args.kind, "settings": settings, **cohort.provenance(),
        "tasks": len(run.table), "failed": len(run.failed), "ran_now": run.ran,
        "kept_from_before": run.resumed, "rerun_failed": run.rerun_failed,
        "workers": run.workers, "scheduler": run.scheduler, "dashboard": run.dashboard,
        "wall_seconds": round(seconds, 2), "engine_seconds": round(run.seconds, 2),
        "fits_per_minute": round(run.fits_per_minute, 2) if run.ran else None,
        "figures": figures, "versions": versions(),
    }
    atomic_write_text(out / "run.json", json.dumps(record, indent=1, default=str) + "\n",
                      force=True)
    return text


@main_guard
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quiet and args.verbose:  # one before KIND, the other after it
        parser.error("argument -v/--verbose: not allowed with argument -q/--quiet")
    check_sampling_options(args, parser)
    _refuse_existing(args)
    try:
        if args.scheduler:
            check_scheduler(args.scheduler, args.scheduler_timeout)
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    # one single-threaded process per fit: chains one after another inside a worker
    sampling = sampling_settings(args)
    if args.cores is None:
        sampling = replace(sampling, cores=1)
    kind, spec, cohort = _kind(args, parser, sampling)
    settings = _settings(args, spec, cohort)
    if cohort.synthetic:
        print(SYNTHETIC_NOTICE)
    t0 = time.perf_counter()
    try:
        run = run_study(kind, args.out, settings=settings, workers=args.workers,
                        scheduler=args.scheduler, resume=args.resume, force=args.force,
                        progress=not args.quiet, connect_timeout=args.scheduler_timeout,
                        say=lambda text: print(text, file=sys.stderr))
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"\ninterrupted: the finished tasks are in {args.out}/ (results.parquet and "
              "results.parts/); the same command with --resume runs the rest", file=sys.stderr)
        return 130
    text = _write_outputs(args, kind, run, cohort, settings, time.perf_counter() - t0)
    print(text, end="")
    print(f"written: {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
