"""rnnlab's defaults beside Darts and NeuralForecast on the study's tasks, in one process.

Same series, same 80/20 chronological split, one-step-ahead predictions of every test
point from the actual values before it. The peers get the study's setting (window 30,
hidden 32 x 2 layers, 100 epochs, batch 32) and their own defaults otherwise; rnnlab gets
exactly what `rnnlab train --data TASK --model MODEL` does. Peers are not rnnlab
dependencies: see benchmarks/README.md for the separate environment.

    /work/peers-venv/bin/python benchmarks/peers.py                      # LSTM, 3 repeats
    /work/peers-venv/bin/python benchmarks/peers.py --models rnn,lstm,gru --repeats 1
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from rnnlab.config import DataConfig, ModelConfig, TrainConfig
from rnnlab.data import load_series
from rnnlab.forecaster import Forecaster
from rnnlab.metrics import rmse
from rnnlab.windows import Split, split_sizes

SEQ_LEN, HIDDEN_SIZE, NUM_LAYERS, EPOCHS, BATCH_SIZE = 30, 32, 2, 100, 32
TASKS = ("sine", "stock:A")
PEER_NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


@dataclass
class Result:
    task: str
    model: str
    system: str
    repeat: int
    rmse: float
    fit_s: float
    predict_s: float


def task_data(task: str) -> tuple[pd.Series, Split]:
    """The series and its parts: rnnlab's 70/10/20, i.e. the peers' 80/20 fit/test split."""
    series = load_series(task)
    split = split_sizes(len(series), SEQ_LEN, DataConfig.val_fraction,
                        DataConfig.test_fraction, name=task)
    return series, split


# --- the three systems: each fits on the first n_fit points and predicts the rest ------


def run_rnnlab(task, model, seed, epochs=None):
    # rnnlab's own defaults decide the epochs (early stopping); `epochs` is for the peers.
    series, split = task_data(task)
    forecaster = Forecaster.from_config(ModelConfig(model=model), TrainConfig(seed=seed),
                                 progress=False)
    started = time.perf_counter()
    forecaster.fit(series.iloc[:split.n_fit], val_size=split.n_val)
    fitted = time.perf_counter()
    predicted = forecaster.predict(series).iloc[-split.n_test:].to_numpy()
    done = time.perf_counter()
    return predicted, fitted - started, done - fitted


def _quiet_trainer() -> dict:
    return {"accelerator": "cpu", "enable_progress_bar": False, "enable_model_summary": False,
            "logger": False, "enable_checkpointing": False}


def run_darts(task, model, seed, epochs=EPOCHS):
    from darts import TimeSeries
    from darts.dataprocessing.transformers import Scaler
    from darts.models import RNNModel

    series, split = task_data(task)
    values = TimeSeries.from_values(series.to_numpy().astype(np.float32))
    train = values[:split.n_fit]
    # Darts' usual recipe: a global min-max scaler fit on the training part.
    scaler = Scaler().fit(train)
    net = RNNModel(model=PEER_NAMES[model], input_chunk_length=SEQ_LEN,
                   training_length=SEQ_LEN, hidden_dim=HIDDEN_SIZE, n_rnn_layers=NUM_LAYERS,
                   n_epochs=epochs, batch_size=BATCH_SIZE, random_state=seed,
                   pl_trainer_kwargs=_quiet_trainer())
    started = time.perf_counter()
    net.fit(scaler.transform(train), verbose=False)
    fitted = time.perf_counter()
    forecasts = net.historical_forecasts(scaler.transform(values), start=split.n_fit,
                                         start_format="position", forecast_horizon=1,
                                         retrain=False, verbose=False)
    predicted = scaler.inverse_transform(forecasts).values()[:, 0]
    done = time.perf_counter()
    return predicted, fitted - started, done - fitted


def run_neuralforecast(task, model, seed, epochs=EPOCHS):
    import neuralforecast.models as nf_models
    from neuralforecast import NeuralForecast

    series, split = task_data(task)
    frame = pd.DataFrame({"unique_id": "s", "ds": np.arange(len(series)),
                          "y": series.to_numpy()})
    # NeuralForecast counts gradient steps, not epochs: 100 passes over the training windows.
    steps = math.ceil(epochs * (split.n_fit - SEQ_LEN) / BATCH_SIZE)
    cls = getattr(nf_models, PEER_NAMES[model])
    net = cls(h=1, input_size=SEQ_LEN, encoder_hidden_size=HIDDEN_SIZE,
              encoder_n_layers=NUM_LAYERS, max_steps=steps, windows_batch_size=BATCH_SIZE,
              random_seed=seed, **_quiet_trainer())
    forecaster = NeuralForecast(models=[net], freq=1)
    started = time.perf_counter()
    forecaster.fit(frame.iloc[:split.n_fit], val_size=0)
    fitted = time.perf_counter()
    cv = forecaster.cross_validation(frame, n_windows=None, test_size=split.n_test,
                                     step_size=1, refit=False, use_fitted=True)
    predicted = cv.sort_values("ds")[PEER_NAMES[model]].to_numpy()
    done = time.perf_counter()
    return predicted, fitted - started, done - fitted


SYSTEMS = {"rnnlab": run_rnnlab, "darts": run_darts, "neuralforecast": run_neuralforecast}


def available(name: str) -> bool:
    if name == "rnnlab":
        return True
    try:
        __import__(name)
    except ImportError as exc:
        print(f"{name} is not installed here ({exc}); see benchmarks/README.md")
        return False
    return True


def warm_up(systems: list[str]) -> dict[str, float]:
    """Pay each library's import and first-fit costs before anything is timed."""
    costs = {}
    for name in systems:
        started = time.perf_counter()
        SYSTEMS[name]("sine", "lstm", 0, epochs=1)
        costs[name] = time.perf_counter() - started
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="lstm", help="comma list of rnn, lstm, gru")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--repeats", type=int, default=3, help="runs per cell (seeds 0..)")
    parser.add_argument("--threads", type=int, help="torch threads for all [default: torch's]")
    parser.add_argument("--json", help="also write every run's figures to this file")
    args = parser.parse_args()
    # The peers' progress and hardware notices would bury the table.
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")

    systems = [s for s in args.systems.split(",") if available(s)]
    models, tasks = args.models.split(","), args.tasks.split(",")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; warming up "
          f"{', '.join(systems)} ...", flush=True)
    for name, seconds in warm_up(systems).items():
        print(f"  first fit of {name} (imports, one epoch): {seconds:.1f} s", flush=True)
    results = []
    for repeat in range(args.repeats):
        for task in tasks:
            actual = task_data(task)[0].to_numpy()
            for model in models:
                for name in systems:
                    predicted, fit_s, predict_s = SYSTEMS[name](task, model, repeat)
                    truth = actual[-len(predicted):]
                    result = Result(task, model, name, repeat, float(rmse(truth, predicted)),
                                    fit_s, predict_s)
                    results.append(result)
                    print(f"  run {repeat}: {task:8s} {model:4s} {name:15s} "
                          f"rmse {result.rmse:.4f}  fit {fit_s:6.2f} s  "
                          f"predict {predict_s:5.2f} s", flush=True)
    print()
    print(table(results))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([asdict(r) for r in results], fh, indent=1)


def table(results: list[Result]) -> str:
    """Medians per cell, and rnnlab / peer ratios of fit time and RMSE."""
    frame = pd.DataFrame([asdict(r) for r in results])
    cells = frame.groupby(["task", "model", "system"], sort=False)[
        ["rmse", "fit_s", "predict_s"]].median()
    rows = []
    for (task, model, system), cell in cells.iterrows():
        row = {"task": task, "model": model, "system": system, "runs": int(
            ((frame.task == task) & (frame.model == model) & (frame.system == system)).sum()),
            "rmse": f"{cell.rmse:.4f}", "fit s": f"{cell.fit_s:.2f}",
            "predict s": f"{cell.predict_s:.2f}", "fit ratio": "", "rmse ratio": ""}
        if system != "rnnlab" and (task, model, "rnnlab") in cells.index:
            mine = cells.loc[(task, model, "rnnlab")]
            row["fit ratio"] = f"{mine.fit_s / cell.fit_s:.3f}"
            row["rmse ratio"] = f"{mine.rmse / cell.rmse:.3f}"
        rows.append(row)
    naive = []
    for task in dict.fromkeys(frame.task):
        actual = task_data(task)[0].to_numpy()
        n_test = task_data(task)[1].n_test
        naive.append(f"{task}: naive (last value) rmse "
                     f"{rmse(actual[-n_test:], actual[-n_test - 1:-1]):.4f}")
    note = ("medians over runs; fit ratio = rnnlab fit s / peer fit s (<= 0.1 is 10x faster); "
            "rmse ratio = rnnlab rmse / peer rmse (<= 1 is as accurate or better)")
    return "\n".join([pd.DataFrame(rows).to_string(index=False), "; ".join(naive), note])


if __name__ == "__main__":
    main()
