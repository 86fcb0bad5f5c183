#!/usr/bin/env python3
"""Treatment-line effect with its uncertainty: HR, decision probabilities, standardised
survival curves, median and RMST differences, centre effects and a new centre.

For each RUN_DIR (a fit of one endpoint, written by nen-bayes fit or reanalyse) it computes, for
--level against --versus of --term (default: second_line vs salvage of line):
  - the posterior HR (median, 95% CrI), P(HR < 1), P(HR < --benefit), P(HR > --harm) and
    P(--rope) (region of practical equivalence);
  - covariate-adjusted survival curves by line, standardised over the cohort (g-computation:
    every unit given each line in turn, other covariates and own centre kept), with 95% bands;
  - the posterior of the difference in median survival and in RMST at each --horizon;
  - the between-centre SD, each centre's HR (caterpillar) and the effect in a new centre.

Writes to --out DIR: effects.csv/.json (all of it, shared effects-table format),
curves_<endpoint>.csv (standardised curves), centres_<endpoint>.csv, figures per endpoint
(standardised_<endpoint>, hr_<endpoint>, centres_<endpoint>; png/svg) and line_effects.txt
(<endpoint>_<model> when several fits of one endpoint are given).

Examples
--------
  nen-bayes fit --data bundled --model weibull_ph_centre --endpoint os --out results/fit_os
  nen-bayes line-effects results/fit_os --out results/line
  nen-bayes line-effects results/fit_os --benefit 0.75 --harm 1.33 --rope 0.9,1.11 \\
      --horizon 12 --horizon 36 --out results/line_os
  nen-bayes line-effects results/lung_fit --term sex --level female --versus male \\
      --horizon 365 --out results/lung_sex

Bad input (exit code 2) includes a RUN_DIR with no fit, a term or level the model does not
have and thresholds out of order.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

from nen_bayes.files import atomic_write_text, check_output_directory, output_directory
from nen_bayes.pipeline.cli import (
    add_contrast_options,
    add_verbosity_options,
    contrast_extras,
    contrast_settings,
    figure_formats,
    main_guard,
    open_unit,
    script_parser,
)


def build_parser() -> argparse.ArgumentParser:
    """The options of ``nen-bayes line-effects``."""
    parser = script_parser("line_effects.py", __doc__)
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="results of nen-bayes fit")
    parser.add_argument("--out", required=True, metavar="DIR", help="results directory")
    parser.add_argument("--force", action="store_true", help="replace an existing --out")
    parser.add_argument("--conf-level", type=open_unit, default=0.95, help="interval level (0.95)")
    parser.add_argument("--formats", type=figure_formats, default="png,svg",
                        help="figure formats (default png,svg)")
    add_contrast_options(parser)
    add_verbosity_options(parser)
    return parser


@main_guard
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    contrast, decision = contrast_settings(args, parser)
    extras = contrast_extras(args)
    check_output_directory(args.out, force=args.force)
    import pandas as pd

    from nen_bayes.bayes.inference import read_run
    from nen_bayes.effects import write_effects
    from nen_bayes.plotting import (
        plot_caterpillar,
        plot_hr_posterior,
        plot_standardised_survival,
        save_figure,
    )
    from nen_bayes.posterior.contrast import contrast_effects

    trees = [(r, read_run(r)) for r in args.runs]
    results = [contrast_effects(t, contrast, decision=decision, conf_level=args.conf_level,
                                **extras) for _, t in trees]
    notice = next((t.attrs["notice"] for _, t in trees if t.attrs.get("notice")), "")
    text = "".join(r.to_text() + "\n" for r in results)
    if notice:
        text = f"{notice}\n{text}{notice}\n"
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    with output_directory(args.out, force=args.force) as out:
        effects = pd.concat([r.effects for r in results], ignore_index=True)
        write_effects(effects, out / "effects",
                      metadata={"runs": [str(r) for r, _ in trees], **asdict(contrast),
                                **asdict(decision), **extras, "conf_level": args.conf_level,
                                "horizons": sorted({float(h) for r in results
                                                    for h in r.rmst["horizon"]}),
                                "notice": notice})
        endpoints = [r.endpoint for r in results]
        for res in results:
            # one file set per endpoint; endpoint_model when an endpoint has several fits
            ep = res.endpoint if endpoints.count(res.endpoint) == 1 else \
                f"{res.endpoint}_{res.model}"
            atomic_write_text(out / f"curves_{ep}.csv", res.curves.to_csv(index=False))
            atomic_write_text(out / f"centres_{ep}.csv", res.centres.to_csv(index=False))
            save_figure(plot_standardised_survival(
                res, title=f"Standardised {ep} by {res.term} ({res.model})",
                synthetic=res.synthetic), out / f"standardised_{ep}", formats)
            save_figure(plot_hr_posterior(res, decision=decision,
                                          title=f"{ep}: HR {res.contrast} ({res.model})",
                                          synthetic=res.synthetic), out / f"hr_{ep}", formats)
            if len(res.centres):
                save_figure(plot_caterpillar(res, title=f"{ep}: centre effects ({res.model})",
                                             synthetic=res.synthetic),
                            out / f"centres_{ep}", formats)
        atomic_write_text(out / "line_effects.txt", text)
    sys.stdout.write(text)
    print(f"written: {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
