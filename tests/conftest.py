"""Shared test settings: one hypothesis profile without deadlines (numba compiles on first call)."""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "tinycnn",
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("tinycnn")
