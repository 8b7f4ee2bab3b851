"""A default `rnnlab train` loads neither scipy nor statsmodels: `--scaler auto`'s ADF and
the seasonal-naive baseline's find_period are numpy (importing the two costs more than the
training). No timing here; benchmarks/startup.py measures it."""

import json
import subprocess
import sys

PROBE = """
import atexit, json, sys
atexit.register(lambda: print("MODULES=" + json.dumps(
    sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr))
from rnnlab.cli import main
sys.argv = ["rnnlab", *json.loads(sys.argv[1])]
main()
"""


def _modules_after(*args):
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    line = [t for t in done.stderr.splitlines() if t.startswith("MODULES=")][-1]
    return done, set(json.loads(line[len("MODULES="):]))


def test_default_train_imports_neither_scipy_nor_statsmodels(tmp_path):
    done, modules = _modules_after("-q", "train", "--data", "sine", "--epochs", "2",
                                   "--out", str(tmp_path / "run"))
    assert (tmp_path / "run" / "metrics.json").is_file()
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "seasonal_naive" in json.dumps(metrics)  # the baseline that calls find_period ran
    assert "torch" in modules  # the probe sees what the run loaded
    assert not modules & {"scipy", "statsmodels"}
