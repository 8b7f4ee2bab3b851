"""How often the 80% interval covers the test values, on sine and noise over 5 data seeds.

Each series is fitted as `rnnlab train --data X --horizon 10` fits it (defaults) and its
split-conformal interval, calibrated on the validation part, is checked on the test part
at steps 1 and 10. One data seed is one test sample: the mean over seeds says how the
rule does, a single seed also how lucky its test part was. "oracle" is how much of the
same test part the exact 80% interval of the noise drawn (the signal +- 1.2816 sigma, which
no model can know better) covers.

    python benchmarks/coverage.py
"""

from __future__ import annotations

import numpy as np

from rnnlab.backtest import backtest
from rnnlab.config import DataConfig
from rnnlab.data import load_data
from rnnlab.forecaster import Forecaster
from rnnlab.windows import seq_len_for_split, split_sizes

# The 90% quantile of the standard normal: +- this many sigma holds 80% of Gaussian noise.
ORACLE_Z = 1.2816


def main() -> None:
    for src in ("sine", "noise"):
        rows = []
        for seed in range(5):
            s = load_data(DataConfig(source=src, data_seed=seed))
            w = seq_len_for_split(s.to_numpy(), 0.1, 0.2)
            sp = split_sizes(len(s), w.seq_len, 0.1, 0.2)
            r = backtest(s, Forecaster(horizon=10, progress=False), sp)
            c = r.multi_step["per_step"]["model"]["coverage"]
            rows.append((c[0], c[-1]))
            test = s.to_numpy()[sp.n_fit:]
            signal = np.sin(np.arange(len(s)) * 0.1)[sp.n_fit:] if src == "sine" else 0.0
            sigma = 0.1 if src == "sine" else 1.0
            oracle = float(np.mean(np.abs(test - signal) <= ORACLE_Z * sigma))
            print(f"{src} data_seed {seed} seq_len {w.seq_len} coverage step 1 {c[0]:.3f} "
                  f"step 10 {c[-1]:.3f} oracle {oracle:.3f} strategy "
                  f"{r.multi_step['strategy']}", flush=True)
        a = np.array(rows)
        print(f"{src} mean over 5 data seeds: step 1 {a.mean(0)[0]:.3f} step 10 "
              f"{a.mean(0)[1]:.3f}")


if __name__ == "__main__":
    main()
