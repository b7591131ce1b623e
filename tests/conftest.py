from pathlib import Path

import pytest
import torch

DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)


@pytest.fixture
def fixture_pairs() -> Path:
    """Three tiny (128 px wide) NIR/RGB pairs from the validation split."""
    return DATA / "pairs"
