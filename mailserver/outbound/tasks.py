"""Drain the queue from Django's Tasks framework (``django.tasks``, Django 6.0+).

With ``MAILSERVER_USE_TASKS = True``, every enqueue schedules (on commit) one
run of :func:`send_queued_mail` on the project's task backend, so a site with
task workers needs no ``runmailqueue``. Claiming and leases are the same, so
tasks and ``runmailqueue`` workers can run side by side.
"""

from __future__ import annotations

from functools import cache

import django
from django.db import transaction

from mailserver.exceptions import MailServerConfigurationError


@cache
def _task():
    if django.VERSION < (6, 0):
        raise MailServerConfigurationError(
            "MAILSERVER_USE_TASKS needs Django 6.0 or later (django.tasks); remove the "
            "setting and run 'manage.py runmailqueue' instead."
        )
    from django.tasks import task

    @task
    def send_queued_mail() -> int:
        from mailserver.outbound.worker import send_queued

        return send_queued().processed

    return send_queued_mail


def send_queued_mail():
    """Return the task object (for ``.enqueue()``), defined on first use."""
    return _task()


def schedule_drain(using: str) -> None:
    """Run the drain task once the current transaction has committed."""
    task = _task()
    transaction.on_commit(task.enqueue, using=using)
