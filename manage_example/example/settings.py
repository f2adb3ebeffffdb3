"""Settings of the example help desk: SQLite, the embedded mail server, the queue."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("EXAMPLE_SECRET_KEY", "example-only-not-secret")
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "mailserver",
    "helpdesk",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "example.urls"
ROOT_MAILCONF = "example.mailconf"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        # The tests run the project in subprocesses that share one database file.
        "NAME": os.environ.get("EXAMPLE_DB", BASE_DIR / "db.sqlite3"),
    }
}

STATIC_URL = "static/"
MEDIA_ROOT = os.environ.get("EXAMPLE_MEDIA_ROOT", BASE_DIR / "media")  # saved attachments

# Mail. Every send_mail() of the site, and every reply of a mail view, is queued;
# `manage.py runmailqueue` (or `sendmailqueue` from cron) delivers the queue through
# the SMTP server below: run a local MTA there, or a debugging sink.
DEFAULT_FROM_EMAIL = "help@example.com"
EMAIL_BACKEND = "mailserver.backends.QueuedEmailBackend"
EMAIL_HOST = os.environ.get("EXAMPLE_SMTP_HOST", "127.0.0.1")
EMAIL_PORT = int(os.environ.get("EXAMPLE_SMTP_PORT", "1025"))
MAILER_DAEMON_ADDRESS = "MAILER-DAEMON@example.com"
# Each recipient's mail gets its own signed return path, routed to mailserver.views.bounce.
MAILSERVER_VERP = "bounces+{token}@example.com"
MAILSERVER_RATE_LIMIT = "10/s"

# Where links in the staff digest point.
HELPDESK_SITE_URL = "http://127.0.0.1:8000"
