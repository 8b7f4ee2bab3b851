"""The optimiser of the training loops: torch's Adam, without the compiler stack.

    rnnlab train --data sine        # its first optimiser no longer imports torch._dynamo

torch wraps `Optimizer.__init__`'s `add_param_group`, `zero_grad`, `state_dict`,
`load_state_dict` and `Adam.step` so that `torch.compile` leaves them alone, and the first
call of each wrapper imports `torch._dynamo`: 0.9-2.5 s measured on torch 2.13, more than a
default training run. No argument of `torch.optim.Adam` (`foreach`, `fused`, `capturable`,
`differentiable`) avoids it, since the constructor itself goes through one. rnnlab never
compiles, so `make_optimizer` returns a `torch.optim.Adam` whose methods are torch's own
functions with those wrappers taken off: the same arithmetic (bit-identical weights), the
same `state_dict` format, and an instance the LR schedulers accept.
"""

from __future__ import annotations

import inspect

import torch


def _unwrapped(method):
    """torch's function under its decorators. Should a torch release stop recording what it
    wrapped (`__wrapped__`), this is the wrapped method: slower to start, never different."""
    return inspect.unwrap(method)


class _EagerAdam(torch.optim.Adam):
    add_param_group = _unwrapped(torch.optim.Optimizer.add_param_group)
    zero_grad = _unwrapped(torch.optim.Optimizer.zero_grad)
    state_dict = _unwrapped(torch.optim.Optimizer.state_dict)
    load_state_dict = _unwrapped(torch.optim.Optimizer.load_state_dict)
    _adam_step = _unwrapped(torch.optim.Adam.step)

    def step(self, closure=None):
        # What torch's wrapper does outside torch.compile: no autograd graph of the update.
        with torch.set_grad_enabled(self.defaults["differentiable"]):
            return self._adam_step(closure)


def make_optimizer(params, lr: float, weight_decay: float) -> torch.optim.Adam:
    """`torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)`, minus the seconds its
    first use spends importing `torch._dynamo`.

    Examples
    --------
    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> opt = make_optimizer([w], lr=0.1, weight_decay=0.0)
    >>> w.sum().backward(); opt.step()
    >>> [round(v, 6) for v in w.tolist()]  # Adam's first step moves each weight by lr
    [0.9, 0.9]
    """
    return _EagerAdam(params, lr=lr, weight_decay=weight_decay)
