"""A learned per-series vector for global models: one net over many series can still tell
them apart (the M4 winner's per-series parameters, in their simplest form).

    rnnlab train --data FOLDER --global --series-embedding --out runs/sp
"""

from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig
from .models import build_model

# Four numbers per series: room for a level of volatility, a trend and a season, and few
# enough that a series with a few hundred training windows pins its own down.
EMBEDDING_SIZE = 4


class SeriesEmbedded(nn.Module):
    """A registered network whose input is each value beside its series' learned vector.

    Input x (batch, seq_len, 2): channel 0 the values in model units, channel 1 the
    series' row in the embedding table (as a float, the same at every step). The linear
    skip reads channel 0 only, so `rnnlab.train.fit_ridge` fits it as for one series.
    """

    def __init__(self, config: ModelConfig, n_series: int, size: int = EMBEDDING_SIZE):
        super().__init__()
        self.embedding = nn.Embedding(n_series, size)
        nn.init.normal_(self.embedding.weight, std=0.1)
        self.net = build_model(config, n_features=1 + size)

    @property
    def skip(self):
        return self.net.skip

    def set_skip(self, weight: torch.Tensor, bias: float) -> None:
        self.net.set_skip(weight, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (batch, seq_len, 2) -> (batch,)
        rows = x[:, 0, 1].long()
        vectors = self.embedding(rows)[:, None, :].expand(-1, x.shape[1], -1)
        return self.net(torch.cat([x[..., :1], vectors], dim=-1))


def build_global_model(config: ModelConfig, n_series: int, series_embedding: bool
                       ) -> nn.Module:
    """The registered network `config` names, with a per-series embedding if asked."""
    if series_embedding:
        return SeriesEmbedded(config, n_series)
    return build_model(config)
