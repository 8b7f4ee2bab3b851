"""`rnnlab --help` and `rnnlab forecast` start fast because they never import heavy modules.

No timing here (see benchmarks/run.py): the tests check which modules a fresh process
loaded, which is what the start-up time follows from.
"""

import json
import subprocess
import sys

import numpy as np
import pandas as pd

from rnnlab.fastpath import save_fast
from rnnlab.forecaster import Forecaster

HEAVY = ("torch", "statsmodels", "matplotlib", "scipy")

PROBE = """
import atexit, json, sys
atexit.register(lambda: print("MODULES=" + json.dumps(
    sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr))
from rnnlab.cli import main
sys.argv = ["rnnlab", *json.loads(sys.argv[1])]
main()
"""


def run_cli(*args):
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)],
                          capture_output=True, text=True, timeout=120)
    line = [t for t in done.stderr.splitlines() if t.startswith("MODULES=")][-1]
    return done, set(json.loads(line[len("MODULES="):]))


def test_help_loads_no_numeric_stack():
    done, modules = run_cli("--help")
    assert done.returncode == 0 and "forecast" in done.stdout
    assert not modules & {*HEAVY, "numpy", "pandas"}


def test_forecast_runs_without_torch(tmp_path):
    t = np.arange(200)
    series = pd.Series(np.sin(t / 5), index=pd.bdate_range("2022-01-03", periods=200,
                                                           name="date"), name="s")
    forecaster = Forecaster(model="gru", seq_len=10, hidden_size=8, num_layers=1, epochs=1,
                            progress=False).fit(series)
    forecaster.save(tmp_path / "model.pt")
    save_fast(forecaster, tmp_path / "model.pt")  # as rnnlab train saves a run
    done, modules = run_cli("forecast", "--run", str(tmp_path), "--horizon", "4")
    assert done.returncode == 0, done.stderr
    # scipy filters Theta's and TSB's levels where they are chosen; nothing heavier loads.
    assert not modules & {"torch", "statsmodels", "matplotlib"}
    lines = done.stdout.strip().splitlines()
    assert lines[0].split() == ["date", "forecast", "lower", "upper"] and len(lines) == 5
    expected = forecaster.forecast(4)
    printed = np.array([float(line.split()[1]) for line in lines[1:]])
    assert np.allclose(printed, expected.to_numpy(), atol=1e-5)
    assert lines[1].split()[0] == str(expected.index[0].date())


def test_a_train_of_the_net_alone_imports_neither_scipy_nor_statsmodels(tmp_path):
    """The seasonal-naive baseline's find_period and the linear skip are numpy: a study of
    the net alone (--candidates net) pays for neither. The default pool imports them for
    its ETS and Theta candidates."""
    done, modules = run_cli("-q", "train", "--data", "sine", "--epochs", "2",
                            "--candidates", "net", "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "seasonal_naive" in json.dumps(metrics)  # the baseline that calls find_period ran
    assert "torch" in modules  # the probe sees what the run loaded
    assert not modules & {"scipy", "statsmodels"}
