"""System checks for the outbound settings (``mailserver.E030``-``E039``, ``W030``-``W039``)."""

from __future__ import annotations

from typing import Any

import django
from django.core import checks

from mailserver.conf import settings as app_settings
from mailserver.exceptions import MailServerConfigurationError


def check_outbound(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Report outbound settings that would fail only when the first mail is sent."""
    from mailserver.outbound.delivery import get_delivery_backend
    from mailserver.outbound.throttle import parse_rate

    errors = []
    rates = {"MAILSERVER_RATE_LIMIT": app_settings.RATE_LIMIT}
    for domain, rate in (app_settings.DOMAIN_RATE_LIMITS or {}).items():
        rates[f"MAILSERVER_DOMAIN_RATE_LIMITS[{domain!r}]"] = rate
    for name, rate in rates.items():
        if rate is None:
            continue
        try:
            parse_rate(rate)
        except MailServerConfigurationError as exc:
            errors.append(checks.Error(f"{name}: {exc}", id="mailserver.E030"))
    try:
        get_delivery_backend()
    except Exception as exc:
        # A warning: a project that only receives mail never needs it.
        errors.append(
            checks.Warning(
                f"The outbound queue's delivery backend cannot be created: {exc}",
                hint="Set MAILSERVER_DELIVERY_BACKEND to a dotted path (Django 5.2) or a "
                "MAILERS alias (Django 6.1+) of a backend that really sends.",
                id="mailserver.W030",
            )
        )
    if app_settings.USE_TASKS and django.VERSION < (6, 0):
        errors.append(
            checks.Error(
                "MAILSERVER_USE_TASKS needs django.tasks, which arrived in Django 6.0.",
                hint="Remove the setting and run 'manage.py runmailqueue' instead.",
                id="mailserver.E032",
            )
        )
    for name in ("MAX_AGE", "LEASE_TIME"):
        value = getattr(app_settings, name)
        if value is not None and value.total_seconds() <= 0:
            errors.append(
                checks.Error(
                    f"MAILSERVER_{name} must be a positive timedelta.", id="mailserver.E033"
                )
            )
    backoff = app_settings.RETRY_BACKOFF
    if not callable(backoff) and not (isinstance(backoff, tuple | list) and len(backoff) == 2):
        errors.append(
            checks.Error(
                "MAILSERVER_RETRY_BACKOFF must be (first_delay, longest_delay) timedeltas or a "
                "function of the attempt number returning a timedelta.",
                id="mailserver.E034",
            )
        )
    return errors
