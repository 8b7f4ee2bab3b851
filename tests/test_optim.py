"""make_optimizer: torch's Adam step for step, without importing the compiler stack."""

import subprocess
import sys

import pytest
import torch

from rnnlab.optim import make_optimizer


def _train(opt_factory, schedule: str | None, steps: int = 12):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1))
    params = list(net.parameters())
    opt = opt_factory(params)
    sched = {"plateau": lambda: torch.optim.lr_scheduler.ReduceLROnPlateau(
                 opt, factor=0.5, patience=1),
             "cosine": lambda: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps),
             None: lambda: None}[schedule]()
    x, y = torch.randn(32, 3), torch.randn(32, 1)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(net(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if sched is not None:
            sched.step(loss.item()) if schedule == "plateau" else sched.step()
    return net, opt, sched


@pytest.mark.parametrize("schedule", [None, "plateau", "cosine"])
def test_bit_identical_to_torch_adam(schedule):
    torch_net, torch_opt, _ = _train(
        lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=1e-3), schedule)
    our_net, our_opt, _ = _train(
        lambda p: make_optimizer(p, lr=0.01, weight_decay=1e-3), schedule)
    for a, b in zip(torch_net.parameters(), our_net.parameters(), strict=True):
        assert torch.equal(a, b)
    theirs, ours = torch_opt.state_dict(), our_opt.state_dict()
    assert theirs["param_groups"] == ours["param_groups"]
    for key, state in theirs["state"].items():
        assert all(torch.equal(state[k], ours["state"][key][k]) for k in state)


def test_resumes_from_torch_adam_state_and_back():
    """A state.pt saved with torch.optim.Adam (older runs) resumes here, and vice versa."""
    net, opt, sched = _train(lambda p: torch.optim.Adam(p, lr=0.01), "cosine", steps=4)
    resumed = make_optimizer(list(net.parameters()), lr=0.01, weight_decay=0.0)
    resumed_sched = torch.optim.lr_scheduler.CosineAnnealingLR(resumed, T_max=12)
    resumed.load_state_dict(opt.state_dict())
    resumed_sched.load_state_dict(sched.state_dict())
    assert resumed.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    back = torch.optim.Adam(list(net.parameters()), lr=0.01)
    back.load_state_dict(resumed.state_dict())
    assert torch.equal(back.state_dict()["state"][0]["exp_avg"],
                       opt.state_dict()["state"][0]["exp_avg"])


PROBE = """
import sys
import numpy as np, pandas as pd
from rnnlab.forecaster import Forecaster
series = pd.Series(np.sin(np.arange(120) / 5), name="s")
Forecaster(model="lstm", seq_len=8, hidden_size=4, num_layers=1, epochs=2,
           progress=False).fit(series)
print("dynamo" if "torch._dynamo" in sys.modules else "no dynamo")
"""


def test_training_does_not_import_torch_dynamo():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "no dynamo"
