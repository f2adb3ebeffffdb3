"""Draining the queue through django.tasks (Django 6.0+) with MAILSERVER_USE_TASKS."""

import django
import pytest
from django.core.mail import EmailMessage
from django.test import override_settings

from mailserver.exceptions import MailServerConfigurationError
from mailserver.models import OutboundMessage
from mailserver.outbound import enqueue

pytestmark = pytest.mark.django_db

IMMEDIATE = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}


@pytest.mark.skipif(django.VERSION < (6, 0), reason="django.tasks arrived in Django 6.0")
@override_settings(MAILSERVER_USE_TASKS=True, TASKS=IMMEDIATE)
def test_enqueue_schedules_a_drain_task_on_commit(sink, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        row = enqueue(EmailMessage("s", "b", "a@example.com", ["task@example.net"]))
    assert sink.messages == []  # nothing runs before the transaction commits
    for callback in callbacks:
        callback()
    row.refresh_from_db()
    assert (row.status, sink.recipients()) == ("sent", ["task@example.net"])


@pytest.mark.skipif(django.VERSION >= (6, 0), reason="Django 6.0+ has django.tasks")
@override_settings(MAILSERVER_USE_TASKS=True)
def test_use_tasks_on_old_django_says_what_to_do():
    with pytest.raises(MailServerConfigurationError, match=r"needs Django 6\.0"):
        enqueue(EmailMessage("s", "b", "a@example.com", ["task@example.net"]))
    assert not OutboundMessage.objects.exists()  # refused before anything was stored
