"""The networks, chosen by name from one registry: adding a model is adding one class.

Every network maps windows (batch, seq_len, n_features) to next values (batch,) in model
units. With ``linear_skip`` it adds a frozen linear autoregression of the window, fit by
least squares before training, so the network learns only what that line misses.

    rnnlab train --data sine --model gru --hidden-size 64 --num-layers 1 --out runs/gru
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import MODEL_NAMES, ModelConfig, check
from .errors import ConfigError

MODELS: dict[str, type[Net]] = {}


def register(name: str):
    """Add a network class to the registry under `name`, one of config.MODEL_NAMES."""

    def add(cls: type[Net]) -> type[Net]:
        if name not in MODEL_NAMES:
            raise ValueError(f"model {name!r} must be listed in rnnlab.config.MODEL_NAMES")
        cls.name = name
        MODELS[name] = cls
        return cls

    return add


def build_model(config: ModelConfig, n_features: int = 1) -> Net:
    """Instantiate the registered network that `config` names, after checking its values.

    Examples
    --------
    >>> net = build_model(ModelConfig(model="lstm", seq_len=30))
    >>> net(torch.zeros(4, 30, 1)).shape
    torch.Size([4])
    """
    check(config)
    try:
        net = MODELS[config.model](config.seq_len, n_features, config.hidden_size,
                                   config.num_layers, config.dropout, config.linear_skip,
                                   config.outputs)
    except (MemoryError, RuntimeError) as exc:
        if not out_of_memory(exc):
            raise
        raise ConfigError(
            f"a {config.model} of {config.num_layers} layer(s) of {config.hidden_size} units "
            "does not fit in the memory this process may use (a 4096-unit LSTM layer alone "
            "takes 0.5 GB); use a smaller --hidden-size or --num-layers") from None
    recent = config.recurrent_len
    net.recent = recent if recent and config.seq_len and recent < config.seq_len else None
    return net


def out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` is an allocation that failed (torch reports it as a RuntimeError)."""
    return isinstance(exc, MemoryError) or any(
        words in str(exc) for words in ("can't allocate memory", "out of memory"))


class Net(nn.Module):
    """Base: an optional frozen linear skip plus a learned body with a zero-initialised head.

    The zero head makes the untrained net equal to its skip (or to "no change" / "the
    mean" without one), so early stopping can always fall back to that.
    """

    name = "net"

    def __init__(self, seq_len: int, n_features: int, hidden_size: int, num_layers: int,
                 dropout: float, linear_skip: bool, n_outputs: int = 1):
        super().__init__()
        self.seq_len = seq_len
        self.n_features = n_features
        self.n_outputs = n_outputs
        self.recent = None  # steps at the window's end the body reads (None: all)
        self.skip = nn.Linear(seq_len, n_outputs) if linear_skip else None
        if self.skip is not None:
            nn.init.zeros_(self.skip.weight)
            nn.init.zeros_(self.skip.bias)
            self.skip.requires_grad_(False)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (batch, seq_len, n_features) -> (batch,), or (batch, n_outputs) for several
        out = self.body(x if self.recent is None else x[:, -self.recent:])
        if self.skip is not None:
            out = out + self.skip(x[..., 0]).squeeze(-1)
        return out

    def set_skip(self, weight: torch.Tensor, bias) -> None:
        """Load the least-squares fit: weight (seq_len,) or (seq_len, n_outputs)."""
        with torch.no_grad():
            self.skip.weight.copy_(weight.reshape(self.seq_len, -1).T)
            self.skip.bias.copy_(torch.as_tensor(bias, dtype=self.skip.bias.dtype).reshape(-1))

    def drop_body(self) -> None:
        """Zero the head: the net is its linear part alone again, as before training."""
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.bias.zero_()

    def _head(self, width: int) -> nn.Linear:
        head = nn.Linear(width, self.n_outputs)
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        return head


def open_forget_gates(lstm: nn.LSTM, bias: float = 1.0) -> None:
    """Start every forget gate of `lstm` at bias 1 instead of PyTorch's 0 (Gers et al., 2000).

    At bias 0 a fresh cell keeps about half its state per step, so a value 20 steps back
    reaches the output damped by about 1e-6 and its gradient starts near zero; at 1 it
    keeps 73%. On the built-in delay task the LSTM found the lag in 3 of 3 seeds with
    either start (benchmarks/memory_task.py, with and without --lstm-forget-bias 0), so
    this is a safe start rather than a measured gain here. Only the bias sum
    b_ih + b_hh matters; the draw of all other weights, and so every seed's stream, is
    unchanged.
    """
    hidden = lstm.hidden_size
    with torch.no_grad():
        for name, param in lstm.named_parameters():
            # Gates are stacked input, forget, cell, output: forget is the second quarter.
            if name.startswith("bias_ih"):
                param[hidden:2 * hidden].fill_(bias)
            elif name.startswith("bias_hh"):
                param[hidden:2 * hidden].zero_()


class Recurrent(Net):
    cell: type[nn.RNNBase] = nn.LSTM

    def __init__(self, seq_len, n_features, hidden_size, num_layers, dropout, linear_skip,
                 n_outputs=1):
        super().__init__(seq_len, n_features, hidden_size, num_layers, dropout, linear_skip,
                         n_outputs)
        self.rnn = self.cell(n_features, hidden_size, num_layers, batch_first=True,
                             dropout=dropout if num_layers > 1 else 0.0)
        self.head = self._head(hidden_size)

    def body(self, x):
        out, _ = self.rnn(x)  # (batch, seq_len, hidden_size)
        return self.head(out[:, -1]).squeeze(-1)


@register("rnn")
class RNN(Recurrent):
    """Elman network with tanh units: the study's vanilla RNN."""

    cell = nn.RNN


@register("lstm")
class LSTM(Recurrent):
    """Long short-term memory: gated cell state that carries information across steps."""

    cell = nn.LSTM

    def __init__(self, seq_len, n_features, hidden_size, num_layers, dropout, linear_skip,
                 n_outputs=1):
        super().__init__(seq_len, n_features, hidden_size, num_layers, dropout, linear_skip,
                         n_outputs)
        open_forget_gates(self.rnn)


@register("gru")
class GRU(Recurrent):
    """Gated recurrent unit: an LSTM with merged gates and no separate cell state."""

    cell = nn.GRU


@register("cnn_rnn")
class ConvRNN(Net):
    """A 1-D convolution over the window (local patterns), then an LSTM over its features."""

    def __init__(self, seq_len, n_features, hidden_size, num_layers, dropout, linear_skip,
                 n_outputs=1):
        super().__init__(seq_len, n_features, hidden_size, num_layers, dropout, linear_skip,
                         n_outputs)
        self.conv = nn.Conv1d(n_features, hidden_size, kernel_size=3, padding=1)
        self.rnn = nn.LSTM(hidden_size, hidden_size, num_layers, batch_first=True,
                           dropout=dropout if num_layers > 1 else 0.0)
        open_forget_gates(self.rnn)
        self.head = self._head(hidden_size)

    def body(self, x):
        features = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        out, _ = self.rnn(features)  # (batch, seq_len, hidden_size)
        return self.head(out[:, -1]).squeeze(-1)


@register("residual")
class ResidualLSTM(Net):
    """Stacked LSTM layers, each adding to its input: deep stacks that still train."""

    def __init__(self, seq_len, n_features, hidden_size, num_layers, dropout, linear_skip,
                 n_outputs=1):
        super().__init__(seq_len, n_features, hidden_size, num_layers, dropout, linear_skip,
                         n_outputs)
        self.inp = nn.Linear(n_features, hidden_size)
        self.layers = nn.ModuleList(
            nn.LSTM(hidden_size, hidden_size, batch_first=True) for _ in range(num_layers)
        )
        for layer in self.layers:
            open_forget_gates(layer)
        self.drop = nn.Dropout(dropout)
        self.head = self._head(hidden_size)

    def body(self, x):
        h = self.inp(x)  # (batch, seq_len, hidden_size)
        for layer in self.layers:
            out, _ = layer(h)
            h = h + self.drop(out)
        return self.head(h[:, -1]).squeeze(-1)


@register("transformer")
class Transformer(Net):
    """Self-attention encoder over the window with learned positions; reads the last step."""

    def __init__(self, seq_len, n_features, hidden_size, num_layers, dropout, linear_skip,
                 n_outputs=1):
        super().__init__(seq_len, n_features, hidden_size, num_layers, dropout, linear_skip,
                         n_outputs)
        heads = 4 if hidden_size % 4 == 0 else 1
        self.inp = nn.Linear(n_features, hidden_size)
        self.pos = nn.Parameter(torch.randn(seq_len, hidden_size) / math.sqrt(hidden_size))
        layer = nn.TransformerEncoderLayer(hidden_size, heads, 2 * hidden_size, dropout,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.head = self._head(hidden_size)

    def body(self, x):
        h = self.encoder(self.inp(x) + self.pos[-x.shape[1]:])  # (batch, steps, hidden_size)
        return self.head(h[:, -1]).squeeze(-1)


@register("linear")
class Linear(Net):
    """Only the least-squares linear autoregression: the strong simple model to beat."""

    def __init__(self, seq_len, n_features, hidden_size, num_layers, dropout, linear_skip,
                 n_outputs=1):
        super().__init__(seq_len, n_features, hidden_size, num_layers, dropout, True, n_outputs)

    def body(self, x):
        return x.new_zeros(x.shape[0], self.n_outputs).squeeze(-1)
