"""Settings for queue workers the outbound tests start as subprocesses.

The environment picks the database (``MAILSERVER_TEST_PG`` names a PostgreSQL
database on 127.0.0.1, else ``MAILSERVER_TEST_DB`` an SQLite file) and the sink.
"""

import os
from datetime import timedelta

from tests.settings import *  # noqa: F403

if os.environ.get("MAILSERVER_TEST_PG"):
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ["MAILSERVER_TEST_PG"],
            "HOST": "127.0.0.1",
            "PORT": 5432,
            "USER": "postgres",
        }
    }

SINK = {"host": "127.0.0.1", "port": int(os.environ.get("MAILSERVER_SINK_PORT", "25"))}
if "MAILERS" in globals():  # Django 6.1+: EMAIL_* are deprecated, and refused next to MAILERS
    MAILERS = {
        **MAILERS,  # noqa: F405
        "delivery": {"BACKEND": "mailserver.backends.smtp.DeliveryBackend", "OPTIONS": SINK},
    }
    MAILSERVER_DELIVERY_BACKEND = "delivery"
else:
    EMAIL_HOST, EMAIL_PORT = SINK["host"], SINK["port"]
MAILSERVER_RATE_LIMIT = os.environ.get("MAILSERVER_TEST_RATE") or None
MAILSERVER_LEASE_TIME = timedelta(seconds=float(os.environ.get("MAILSERVER_TEST_LEASE", "300")))
MAILSERVER_BATCH_SIZE = int(os.environ.get("MAILSERVER_TEST_BATCH", "100"))
MAILSERVER_POLL_INTERVAL = 0.2
