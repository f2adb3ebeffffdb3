"""Settings for mailserver's own test suite."""

import os

import django

SECRET_KEY = "mailserver-tests-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "mailserver",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

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

ROOT_URLCONF = "tests.urls"
ROOT_MAILCONF = "tests.mailconfs.basic"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        # Subprocess tests (readmail, runmailserver) point this at a file.
        "NAME": os.environ.get("MAILSERVER_TEST_DB", ":memory:"),
    }
}

# Django 6.1 replaces EMAIL_BACKEND and the EMAIL_* settings with MAILERS and warns
# about the old names; the suite runs with warnings as errors on both.
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
else:
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
DEFAULT_FROM_EMAIL = "webmaster@example.com"

if os.environ.get("MAILSERVER_TEST_MAX_SIZE"):
    MAILSERVER_MAX_MESSAGE_SIZE = int(os.environ["MAILSERVER_TEST_MAX_SIZE"])
