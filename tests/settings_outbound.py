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

EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = int(os.environ.get("MAILSERVER_SINK_PORT", "25"))
MAILSERVER_RATE_LIMIT = os.environ.get("MAILSERVER_TEST_RATE") or None
MAILSERVER_LEASE_TIME = timedelta(seconds=float(os.environ.get("MAILSERVER_TEST_LEASE", "300")))
MAILSERVER_BATCH_SIZE = int(os.environ.get("MAILSERVER_TEST_BATCH", "100"))
MAILSERVER_POLL_INTERVAL = 0.2
