"""What happened in training, epoch by epoch: torch-free, so a checkpoint's history loads
without it (`rnnlab forecast` never imports torch).

    rnnlab train --data sine --out runs/sine   # metrics.json: epochs_run, best_epoch, stopped
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field


@dataclass
class History:
    """What happened in training, epoch by epoch (losses in model units)."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    initial_val_loss: float = math.nan
    best_epoch: int = 0  # 0: the untrained net (its linear skip) was best
    best_val_loss: float = math.inf
    stopped: str = ""  # early_stopping | max_epochs | diverged | interrupted | closed_form
    message: str = ""
    seconds: float = 0.0

    @property
    def epochs_run(self) -> int:
        return len(self.train_loss)

    def to_dict(self) -> dict:
        return {**asdict(self), "epochs_run": self.epochs_run}
