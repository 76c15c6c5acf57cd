"""Fixtures shared by every part's tests."""
import pytest

import zenkai_np


@pytest.fixture(params=zenkai_np.supported_simd_paths())
def simd_path(request):
    """Run the test once on every SIMD path this CPU supports."""
    with zenkai_np.use_simd_path(request.param):
        yield request.param
