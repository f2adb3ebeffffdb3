"""Shared fixtures: each area keeps its own in tests/<area>_fixtures.py."""

pytest_plugins = ["tests.ingress_fixtures", "tests.outbound_fixtures"]
