import os

import pytest

# Tests run on CPU with a fixed thread count so results are repeatable.
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


@pytest.fixture(autouse=True)
def _threads():
    import torch

    torch.set_num_threads(1)
    yield
