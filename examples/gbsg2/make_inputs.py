#!/usr/bin/env python3
"""Write the example's inputs: points read off the Kaplan-Meier curves of the GBSG2 trial data
(recurrence-free survival by hormone therapy, as shipped with lifelines) and the numbers at
risk every 250 days, as a figure of that trial would print them.

The points are what a careful digitiser reads: the two corners of every step, with reading
noise of 0.25% of the time axis in time and 0.0025 in survival
(nen_bayes.reconstruction.roundtrip.digitise, seed 2012). Survival is written as a percentage,
as most figures show it.

  examples/gbsg2/make_inputs.py [--force]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from nen_bayes.files import atomic_write_text
from nen_bayes.reconstruction.roundtrip import at_risk, digitise, load_dataset

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--force", action="store_true", help="overwrite the existing inputs")
    args = p.parse_args(argv)
    _, data = load_dataset("gbsg2")
    rng = np.random.default_rng(2012)
    points, risk = [], []
    for arm in ("no", "yes"):
        sub = data[data["arm"] == arm]
        pts = digitise(sub["time"], sub["event"], rng)
        pts = pts.sample(frac=1.0, random_state=1).sort_values("time")  # as read, by time
        points.append(pd.DataFrame({"arm": arm, "time": pts["time"].round(1),
                                    "survival": (100 * pts["survival"]).round(2)}))
        times = np.arange(0, 2501, 250)
        risk.append(pd.DataFrame({"arm": arm, "time": times,
                                  "n_risk": at_risk(sub["time"], times)}))
    atomic_write_text(HERE / "points.csv", pd.concat(points).to_csv(index=False),
                      force=args.force)
    atomic_write_text(HERE / "at_risk.csv", pd.concat(risk).to_csv(index=False),
                      force=args.force)
    print(f"wrote {HERE / 'points.csv'} and {HERE / 'at_risk.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
