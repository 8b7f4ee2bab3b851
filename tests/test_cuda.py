"""The CUDA path: windows, batches and training on the GPU where there is one.

CI has no GPU, so the GPU cases skip with a reason; `benchmarks/gpu.sh` times that path.
"""

import numpy as np
import pytest
import torch

from rnnlab.data import load_series
from rnnlab.forecaster import Forecaster

TINY = dict(seq_len=12, hidden_size=8, num_layers=1, epochs=2, progress=False)
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible to torch")


@CUDA
@pytest.mark.parametrize("amp", [False, True])
def test_training_and_forecasts_run_on_cuda(amp):
    series = load_series("sine")[:400]
    f = Forecaster(model="lstm", device="cuda", amp=amp, horizon=3, **TINY).fit(series)
    assert next(f.model_.parameters()).device.type == "cuda"
    assert np.isfinite(f.predict(series).to_numpy()).all()
    assert np.isfinite(f.forecast_interval(5).to_numpy()).all()


def test_amp_is_ignored_on_the_cpu():
    series = load_series("sine")[:400]
    plain = Forecaster(model="gru", device="cpu", **TINY).fit(series)
    mixed = Forecaster(model="gru", device="cpu", amp=True, **TINY).fit(series)
    np.testing.assert_array_equal(plain.predict(series), mixed.predict(series))


def test_asking_for_cuda_without_one_is_one_line():
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is visible: the refusal cannot happen here")
    from rnnlab.errors import ConfigError

    with pytest.raises(ConfigError, match="no CUDA GPU is visible; use --device cpu"):
        Forecaster(device="cuda", **TINY).fit(load_series("sine")[:400])
