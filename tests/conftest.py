"""Suite-wide configuration."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# The machines are shared and noisy: Hypothesis must not fail a test for being slow.
settings.register_profile(
    "bootup", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("bootup")
