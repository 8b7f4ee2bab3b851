import pytest
import torch

from rnnlab.config import MODEL_NAMES, ModelConfig
from rnnlab.models import MODELS, build_model


def test_cli_help_lists_every_registered_model():
    assert list(MODEL_NAMES) == list(MODELS)


@pytest.mark.parametrize("name", list(MODELS))
def test_shapes_and_zero_head_start(name):
    torch.manual_seed(0)
    net = build_model(ModelConfig(model=name, seq_len=10, hidden_size=8, num_layers=2))
    x = torch.randn(5, 10, 1)  # (batch, seq_len, n_features)
    out = net(x)
    assert out.shape == (5,)
    # A fresh net equals its (still zero) linear skip: it predicts 0 in model units.
    assert torch.equal(out, torch.zeros(5))


def test_linear_skip_is_frozen_and_added():
    net = build_model(ModelConfig(model="lstm", seq_len=4, hidden_size=8))
    net.set_skip(torch.tensor([0.0, 0.0, 0.0, 1.0]), 0.5)
    assert not net.skip.weight.requires_grad
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]]).unsqueeze(-1)
    assert net(x).item() == pytest.approx(4.5)


def test_bad_sizes_are_refused():
    with pytest.raises(Exception, match="hidden_size must be at least 1"):
        build_model(ModelConfig(model="gru", seq_len=4, hidden_size=0))
    with pytest.raises(Exception, match="dropout must be below 1, got 1.5"):
        build_model(ModelConfig(model="gru", seq_len=4, dropout=1.5))
