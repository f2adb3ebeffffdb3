"""Settings are read in one place, with defaults, and follow override_settings."""

import socket

import pytest
from django.test import override_settings

from mailserver.conf import DEFAULTS
from mailserver.conf import settings as app_settings


def test_defaults_apply_when_a_setting_is_absent():
    assert app_settings.MAX_MESSAGE_SIZE == DEFAULTS["MAX_MESSAGE_SIZE"] == 25 * 1024 * 1024
    assert app_settings.SUBADDRESS_SEPARATOR == "+"


def test_override_settings_is_seen_at_once():
    with override_settings(MAILSERVER_MAX_MESSAGE_SIZE=10):
        assert app_settings.MAX_MESSAGE_SIZE == 10
    assert app_settings.MAX_MESSAGE_SIZE == DEFAULTS["MAX_MESSAGE_SIZE"]


def test_root_mailconf_keeps_its_django_name():
    with override_settings(ROOT_MAILCONF="tests.mailconfs.routing"):
        assert app_settings.ROOT_MAILCONF == "tests.mailconfs.routing"


def test_mailer_daemon_address_defaults_to_this_host():
    assert app_settings.MAILER_DAEMON_ADDRESS == "MAILER-DAEMON@" + socket.getfqdn()


def test_a_misspelt_setting_fails_loudly():
    with pytest.raises(AttributeError, match="MAILSERVER_MAX_MESAGE_SIZE"):
        app_settings.MAX_MESAGE_SIZE  # noqa: B018
