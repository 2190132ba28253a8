"""Shared test settings: one hypothesis profile without deadlines (numba compiles on first call),
and the fixture that picks the road of Winograd's and the 1x1 convolutions' products."""

import pytest
from hypothesis import HealthCheck, settings

from tinycnn.kernels import blas, winograd_products

settings.register_profile(
    "tinycnn",
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("tinycnn")


@pytest.fixture
def products_road(monkeypatch):
    """products_road(in_registers): winograd.py and pointwise_blas.py take
    winograd_products.py's loop (on every machine, whatever NumPy's BLAS runs) or NumPy's
    products, for the rest of the test."""

    def take(in_registers):
        monkeypatch.setattr(winograd_products, "CHUNKS_FIT", in_registers)
        monkeypatch.setattr(blas, "avx512_kernel", lambda: False)

    return take
