"""Test settings for the bounce end-to-end tests' subprocesses: VERP on, mail to a sink."""

import os

import django

from tests.settings import *  # noqa: F403

MAILSERVER_VERP = "bounces+{token}@example.com"
ROOT_MAILCONF = "tests.mailconfs.bounces"

_port = int(os.environ.get("MAILSERVER_TEST_SINK_PORT", "25"))
if django.VERSION >= (6, 1):
    MAILERS = {
        **MAILERS,  # noqa: F405
        "delivery": {
            "BACKEND": "mailserver.backends.smtp.DeliveryBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": _port},
        },
    }
    MAILSERVER_DELIVERY_BACKEND = "delivery"
else:
    EMAIL_HOST = "127.0.0.1"
    EMAIL_PORT = _port
