"""Several nets of one kind run as one computation: the forward pass of stacked seeds.

`rnnlab.train.train` trains k seeds of one model together, one step for all of them. For
rnn and gru it runs their recurrence as batched matrix products over a leading model axis
(`stacked_forward`); every other model, lstm included, runs each net's own forward and
backward one after the other (`backward_losses`).

    rnnlab compare --data sine --models gru --seeds 5

Why this split (figures from benchmarks/seeds.py on the 2-core CPU):
- rnn and gru: five seeds stacked fit 1.3-2x faster than five separate fits.
  ``torch.func.vmap`` cannot do this: torch has no batching rule for aten::lstm and its kin.
- lstm: nn.LSTM's fused oneDNN kernel beats the stacked form, which made five lstm seeds
  1.5x slower, so it keeps one forward per net: as fast as separate fits and equal to them
  bit for bit.

Exactness: the stacked rnn/gru differ from separate fits by float rounding only (their
sums run in another order), which can move an early-stopping decision that sits within
rounding of the 0.1% threshold. Dropout masks come from the global torch RNG in one stream
for all models: repeatable, but not those of separate fits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .models import Net, Recurrent
from .windows import Windows

# Recurrent modes whose stacked form beat one forward per model (see the module docstring).
STACKED_MODES = ("RNN_TANH", "GRU")
# Validation windows per stacked pass, summed over models: bounds the (seq_len, models,
# windows, 4 * hidden) gate tensor to about 100 MB at hidden 32.
EVAL_WINDOWS = 8192


def stacks(net: Net) -> bool:
    """Whether `net` runs in `stacked_forward` (else one forward per model)."""
    rnn = getattr(net, "rnn", None)
    return getattr(type(net), "body", None) is Recurrent.body and \
        getattr(rnn, "mode", "") in STACKED_MODES


def backward_losses(nets: list[Net], x: torch.Tensor, y: torch.Tensor, stacked: bool
                    ) -> torch.Tensor:
    """Each net's mean squared error on its own batch, with its gradients accumulated:
    x (n_models, batch, seq_len, 1), y (n_models, batch) -> (n_models,), detached.

    ``stacked`` runs all nets in `stacked_forward` (they must `stacks`), else one by one.
    """
    if stacked:
        losses = (stacked_forward(nets, x) - y).pow(2).flatten(1).mean(1)
        losses.sum().backward()  # each net's loss reaches only its own parameters
        return losses.detach()
    losses = []
    for net, x_m, y_m in zip(nets, x, y, strict=True):
        # Forward and backward one net at a time: a joint backward keeps every net's
        # graph alive at once, which made lstm fits slower than separate ones.
        # A net with its own loss (the global net's pinball) says so; else squared error.
        loss = net.loss(x_m, y_m) if hasattr(net, "loss") else F.mse_loss(net(x_m), y_m)
        loss.backward()
        losses.append(loss.detach())
    return torch.stack(losses)


def stacked_forward(nets: list[Net], x: torch.Tensor) -> torch.Tensor:
    """All `nets` at once: x (n_models, batch, seq_len, 1) -> (n_models, batch).

    Model m reads only x[m]; gradients reach each net's own parameters.
    """
    first = nets[0]
    kind = first.rnn.mode  # "LSTM", "GRU" or "RNN_TANH"
    recent = first.recent
    # (seq_len, n_models, batch, 1): the steps the body reads
    h = (x if recent is None else x[:, :, -recent:]).permute(2, 0, 1, 3)
    for layer in range(first.rnn.num_layers):
        weights = [torch.stack([getattr(net.rnn, f"{name}_l{layer}") for net in nets])
                   for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        h = _layer(kind, h, *weights)  # (seq_len, n_models, batch, hidden_size)
        if layer < first.rnn.num_layers - 1 and first.rnn.dropout > 0:
            h = F.dropout(h, first.rnn.dropout, first.training)
    head_w = torch.stack([net.head.weight for net in nets])  # (n_models, 1, hidden_size)
    head_b = torch.stack([net.head.bias for net in nets])  # (n_models, 1)
    # (n_models, batch, n_outputs), squeezed to (n_models, batch) for one output
    out = torch.baddbmm(head_b.unsqueeze(1), h[-1], head_w.transpose(1, 2)).squeeze(-1)
    if first.skip is not None:
        # Each net's own skip, computed exactly as its forward does: where the skip is a
        # least-squares fit, the first step's mean residual is zero up to rounding, and
        # Adam turns the sign of that rounding into a full step of the head bias.
        skips = [net.skip(x_m[..., 0]).squeeze(-1) for net, x_m in zip(nets, x, strict=True)]
        out = out + torch.stack(skips)
    return out


def _layer(kind: str, x: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor,
           b_ih: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
    """One recurrent layer for every model: x (seq_len, n_models, batch, n_in) ->
    (seq_len, n_models, batch, hidden_size), with the gate layout of nn.RNN/LSTM/GRU."""
    seq_len, n_models, batch, n_in = x.shape
    hidden = w_hh.shape[-1]
    # The input part of every step in one product; the recurrent bias joins it where the
    # cell adds it unchanged (not GRU, whose new gate scales it by the reset gate).
    bias = b_ih if kind == "GRU" else b_ih + b_hh
    flat = x.permute(1, 0, 2, 3).reshape(n_models, seq_len * batch, n_in)
    inputs = torch.baddbmm(bias.unsqueeze(1), flat, w_ih.transpose(1, 2))
    # unbind, not indexing: indexing's backward would write T full-size zero tensors.
    steps = inputs.view(n_models, seq_len, batch, -1).transpose(0, 1).unbind(0)
    w_hh_t = w_hh.transpose(1, 2)  # (n_models, hidden, gates * hidden)
    h = x.new_zeros(n_models, batch, hidden)
    outputs = []
    if kind == "LSTM":
        c = torch.zeros_like(h)
        for step in steps:
            gates = torch.baddbmm(step, h, w_hh_t)  # (n_models, batch, 4 * hidden)
            i, f, _, o = gates.sigmoid().chunk(4, -1)
            g = gates[..., 2 * hidden:3 * hidden].tanh()
            c = torch.addcmul(f * c, i, g)
            h = o * c.tanh()
            outputs.append(h)
    elif kind == "GRU":
        b_hh = b_hh.unsqueeze(1)
        for step in steps:
            recurrent = torch.baddbmm(b_hh, h, w_hh_t)  # (n_models, batch, 3 * hidden)
            x_r, x_z, x_n = step.chunk(3, -1)
            h_r, h_z, h_n = recurrent.chunk(3, -1)
            r = (x_r + h_r).sigmoid()
            z = (x_z + h_z).sigmoid()
            n = torch.addcmul(x_n, r, h_n).tanh()
            h = torch.addcmul(n, z, h - n)
            outputs.append(h)
    elif kind == "RNN_TANH":
        for step in steps:
            h = torch.baddbmm(step, h, w_hh_t).tanh()
            outputs.append(h)
    else:
        raise ValueError(f"no stacked form for recurrent mode {kind!r}")
    return torch.stack(outputs)


@torch.no_grad()
def stacked_losses(nets: list[Net], data: Windows) -> list[float]:
    """Each net's mean squared error over all windows of `data`, all nets in one pass."""
    for net in nets:
        net.eval()
    total = torch.zeros(len(nets), device=data.targets.device)
    chunk = max(1, EVAL_WINDOWS // len(nets))
    for lo in range(0, len(data), chunk):
        x, y = data.batch(slice(lo, min(lo + chunk, len(data))))
        x = x.expand(len(nets), *x.shape)  # every net reads the same windows
        total += (stacked_forward(nets, x) - y).pow(2).flatten(1).sum(1)
    return (total / max(data.targets.numel(), 1)).tolist()
