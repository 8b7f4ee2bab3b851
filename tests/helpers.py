"""Helpers several test files share (imported as `helpers`: pytest puts tests/ on the path)."""

import contextlib

import numpy as np
import pandas as pd


def one_line_error(result, *fragments: str) -> str:
    """A CliRunner result that failed with one `error: ...` line holding every fragment."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@contextlib.contextmanager
def stop_after(epochs: int):
    """Stands in for Ctrl-C after a given number of epochs."""
    count = {"n": 0}

    def requested() -> bool:
        count["n"] += 1
        return count["n"] >= epochs

    yield requested


def ar2_series(n: int = 400, seed: int = 0) -> pd.Series:
    e = np.random.default_rng(seed).standard_normal(n)
    x = np.zeros(n)
    for t in range(2, n):
        x[t] = 0.6 * x[t - 1] - 0.3 * x[t - 2] + e[t]
    return pd.Series(x, name="ar2")
