"""What a checkpoint says about its model, checked before a forecast relies on it.

Checksums show that rnnlab wrote a file, not that what it holds makes sense: a file
written with rnnlab's own `save_checkpoint` can still name a horizon of 10**9, a scale of
0 or an index of text. `check_meta` is the one check of both loaders, the numpy one
(`rnnlab.fastpath.load_fast`) and torch's (`rnnlab.forecaster.Forecaster.load`); each part
it checks is read by the function that reads it for the forecast, so a key the metadata
gains or loses later is left to the code that reads it.

    rnnlab forecast --run runs/sine --horizon 10
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from .base import MAX_MAGNITUDE, interval_width_from_meta, tail_from_meta
from .checkpoint import check_model_params
from .config import SECTIONS, build, check
from .errors import CheckpointError, RnnlabError
from .features import CALENDAR_COLUMNS
from .windows import Scaler


def check_meta(meta, tail: np.ndarray, path: str | Path) -> None:
    """Refuse a checkpoint's metadata unless forecasting can read every part it uses, in
    one line naming the file and the part.

    The parameters pass the run options' own rules (`rnnlab.config.check`: unknown names,
    types and ranges, as on the command line); the scaler, the training range, the counts,
    the interval, the feature record and the tail's dates parse as their readers need.
    """
    try:
        if not isinstance(meta, dict):
            raise ValueError("it is not an object")
        params = meta["params"]
        check_model_params(params, len(tail), path)
        check_params(params)
        used = meta.get("strategy_used")
        if used is not None and used not in ("recursive", "direct"):
            raise ValueError(f"strategy_used {used!r} is not recursive or direct")
        Scaler.from_state(meta["scaler"])
        if "train_range" in meta:
            low, high = (float(x) for x in meta["train_range"])
            if not (math.isfinite(low) and math.isfinite(high) and low <= high and
                    max(abs(low), abs(high)) <= MAX_MAGNITUDE):
                raise ValueError(f"train_range {meta['train_range']} must be [lowest, "
                                 f"highest], finite and within ±{MAX_MAGNITUDE:.0e}")
        for name in ("n_train", "n_val"):
            if not isinstance(meta[name], int) or isinstance(meta[name], bool) or meta[name] < 0:
                raise ValueError(f"{name} {meta[name]!r} must be a count")
        if "features" in meta:
            _check_inputs(meta["features"], params)
        interval_width_from_meta(meta)
        tail_from_meta(meta, np.asarray(tail))
    except (RnnlabError, KeyError, TypeError, ValueError, OverflowError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        text = str(exc).strip().splitlines()
        what = f"lacks {exc}" if isinstance(exc, KeyError) else text[0] if text else \
            type(exc).__name__
        raise CheckpointError(f"checkpoint '{path}' has metadata no saved model has "
                              f"({what[:200]}); it was edited or damaged: retrain it") from None


def check_params(params: dict) -> None:
    """Raise RnnlabError or ValueError unless `params` are settings a Forecaster saves:
    model and training options that pass `rnnlab.config.check`, and its val_fraction."""
    sections = {name: {} for name in SECTIONS}
    for key, value in params.items():
        if key == "val_fraction":
            if isinstance(value, bool) or not isinstance(value, int | float) or \
                    not 0 <= value < 1:
                raise ValueError(f"val_fraction {value!r} must be a share from 0 to below 1")
            continue
        home = next((name for name, cls in SECTIONS.items() if name != "data" and
                     key in {f.name for f in dataclasses.fields(cls)}), "model")
        sections[home][key] = value
    for name in ("model", "training"):
        check(build(SECTIONS[name], sections[name]))


def _check_inputs(features: dict, params: dict) -> None:
    """ValueError unless a model's feature record counts the inputs its settings name."""
    columns, n_inputs = features["columns"], features["n_inputs"]
    calendar = len(CALENDAR_COLUMNS) if params.get("calendar") is True else 0
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns) or \
            isinstance(n_inputs, bool) or n_inputs != 1 + len(columns) + calendar:
        raise ValueError(f"features n_inputs {n_inputs!r} must count the target, the columns "
                         f"{columns!r} and the calendar")
