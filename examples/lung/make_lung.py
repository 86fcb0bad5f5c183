#!/usr/bin/env python3
"""Write R's `lung` cohort (NCCTG advanced lung cancer, 228 patients treated at 18 institutions;
shipped by lifelines as `load_lung`) as a CSV a new user would bring: sex as words, the ECOG
score as a number (as R's classic `coxph(Surv(time, status) ~ age + sex + ph.ecog, lung)` uses
it), the institution as the centre column. Nothing else is changed (times in days; status
0 = censored, 1 = dead, as lifelines codes R's 1/2; missing values left missing).

  examples/lung/make_lung.py [--out examples/lung/lung.csv] [--force]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lifelines.datasets import load_lung

from nen_bayes.files import atomic_write_text

HERE = Path(__file__).resolve().parent


def lung_frame():
    d = load_lung()
    out = d[["inst", "time", "status", "age", "sex", "ph.ecog"]].copy()
    out["inst"] = out["inst"].map(lambda v: "" if v != v else f"inst{int(v):02d}")
    out["sex"] = out["sex"].map({1: "male", 2: "female"})
    return out.rename(columns={"ph.ecog": "ecog"})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(HERE / "lung.csv"))
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    a = p.parse_args(argv)
    atomic_write_text(a.out, lung_frame().to_csv(index=False), force=a.force)
    print(f"written: {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
