"""System checks for the outbound settings."""

import pytest
from django.test import override_settings

from mailserver.outbound.checks import check_outbound
from tests.outbound_fixtures import deliver_to


@pytest.mark.parametrize(
    ("overrides", "check_id"),
    [
        ({"MAILSERVER_RATE_LIMIT": "fast"}, "mailserver.E030"),
        ({"MAILSERVER_DOMAIN_RATE_LIMITS": {"gmail.com": "20 per second"}}, "mailserver.E030"),
        ({"MAILSERVER_DELIVERY_BACKEND": "nowhere.Backend"}, "mailserver.W030"),
        ({"MAILSERVER_RETRY_BACKOFF": 300}, "mailserver.E034"),
    ],
)
def test_wrong_settings_are_reported(overrides, check_id):
    with override_settings(**deliver_to("127.0.0.1", 25)), override_settings(**overrides):
        assert [e.id for e in check_outbound()] == [check_id]


def test_good_settings_pass():
    with override_settings(
        **deliver_to("127.0.0.1", 25),
        MAILSERVER_RATE_LIMIT="600/m",
        MAILSERVER_DOMAIN_RATE_LIMITS={"gmail.com": "20/s"},
    ):
        assert check_outbound() == []
