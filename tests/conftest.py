"""Shared fixtures: each area keeps its own in tests/<area>_fixtures.py."""

pytest_plugins = ["tests.ingress_fixtures", "tests.outbound_fixtures"]

# --- hardening: hypothesis profiles, caches cleared per test --------------------------------
# In CI the examples are derived from each test's name, so a failure reproduces on rerun.
import os  # noqa: E402

import pytest  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402

hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _clear_caches():
    """Start each test with empty caches: the auto-reply rate limit counts in them."""
    from django.core.cache import caches

    for cache in caches.all(initialized_only=True):
        cache.clear()


# --- end hypothesis profiles ------------------------------------------------------------------
