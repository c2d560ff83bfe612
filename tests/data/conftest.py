from pathlib import Path

import pytest

SENTEVAL = (Path(__file__).parents[2] / "../shared/data/senteval").resolve()


@pytest.fixture
def senteval_dir() -> Path:
    """The shared SentEval files (read-only); tests using them skip where they are absent."""
    if not (SENTEVAL / "SHA256SUMS").is_file():
        pytest.skip(f"no SentEval data at {SENTEVAL}")
    return SENTEVAL
