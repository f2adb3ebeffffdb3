"""Drain the queue from Django's Tasks framework (``django.tasks``, Django 6.0+).

With ``MAILSERVER_USE_TASKS = True``, every enqueue schedules (on commit) one
run of :func:`send_queued_mail` on the project's task backend, so a site with
task workers needs no ``runmailqueue``. Claiming and leases are the same, so
tasks and ``runmailqueue`` workers can run side by side.
"""

from __future__ import annotations

from django.db import transaction

from mailserver.exceptions import MailServerConfigurationError

try:
    from django.tasks import task
except ImportError:  # Django < 6.0
    task = None

if task is not None:

    @task
    def send_queued_mail() -> int:
        """Send the mail due now; return how many messages were handled."""
        from mailserver.outbound.worker import send_queued

        return send_queued().processed


def schedule_drain(using: str) -> None:
    """Enqueue :func:`send_queued_mail` once the current transaction has committed."""
    if task is None:
        raise MailServerConfigurationError(
            "MAILSERVER_USE_TASKS needs Django 6.0 or later (django.tasks); remove the "
            "setting and run 'manage.py runmailqueue' instead."
        )
    transaction.on_commit(send_queued_mail.enqueue, using=using)
