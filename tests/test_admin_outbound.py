"""The outbound queue admin: list, detail with recipients and attempts, actions, stats."""

from datetime import timedelta

import pytest
from django.core.mail import EmailMessage
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from mailserver.models import OutboundMessage, Suppression
from mailserver.outbound import enqueue, send_queued

pytestmark = pytest.mark.django_db


def url(name, *args):
    return reverse(f"admin:mailserver_outboundmessage_{name}", args=args)


@pytest.fixture
def attempted(sink):
    """A message tried once: one recipient sent, one failed, one deferred."""
    row = enqueue(
        EmailMessage(
            "Admin <script>x</script>",
            "Body",
            "site@example.com",
            ["ok@example.net", "rcpt-550-a@example.net", "rcpt-451-b@example.net"],
        )
    )
    with override_settings(MAILSERVER_SMTP_TRANSCRIPT=True):
        send_queued()
    row.refresh_from_db()
    return row


def act(admin_client, action, *rows):
    return admin_client.post(
        url("changelist"),
        {"action": action, "_selected_action": [r.pk for r in rows]},
        follow=True,
    )


def test_list_filters_by_status(admin_client, attempted):
    page = admin_client.get(url("changelist"), {"status__exact": "deferred"})
    assert page.status_code == 200
    assert b"Admin &lt;script&gt;" in page.content
    assert (
        admin_client.get(url("changelist"), {"status__exact": "sent"}).context["cl"].result_count
        == 0
    )


def test_detail_shows_recipients_attempts_and_transcript(admin_client, attempted):
    page = admin_client.get(url("change", attempted.pk))
    assert page.status_code == 200
    for text in (b"rcpt-550-a@example.net", b"550 5.1.1 No such user", b"S: 250 2.0.0 Queued"):
        assert text in page.content


def test_retry_now_makes_deferred_mail_due(admin_client, attempted):
    assert attempted.next_attempt_at > timezone.now()
    act(admin_client, "retry_now", attempted)
    attempted.refresh_from_db()
    assert attempted.next_attempt_at <= timezone.now()


def test_cancel_stops_waiting_mail(admin_client, attempted):
    act(admin_client, "cancel", attempted)
    attempted.refresh_from_db()
    assert attempted.status == "cancelled"
    assert send_queued().processed == 0


def test_requeue_failed_sends_again_to_those_who_did_not_get_it(admin_client, sink):
    row = enqueue(
        EmailMessage("s", "b", "site@example.com", ["ok@example.net"]),
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    send_queued()
    row.refresh_from_db()
    assert row.status == "expired"
    act(admin_client, "requeue_failed", row)
    send_queued()
    row.refresh_from_db()
    assert row.status == "sent" and sink.recipients() == ["ok@example.net"]


def test_stats_page_counts_recipients_per_day(admin_client, attempted):
    page = admin_client.get(url("stats"))
    assert page.status_code == 200
    [row] = page.context["rows"]
    assert (row["sent"], row["failed"], row["deferred"], row["queued"]) == (1, 1, 1, 0)


def test_suppressions_can_be_added_in_the_admin(admin_client):
    add = reverse("admin:mailserver_suppression_add")
    admin_client.post(add, {"address": " Someone@Example.NET ", "reason": "manual"})
    assert Suppression.objects.get().address == "someone@example.net"


def test_attempts_have_their_own_page(admin_client, attempted):
    page = admin_client.get(reverse("admin:mailserver_deliveryattempt_changelist"))
    assert page.status_code == 200
    assert OutboundMessage.objects.get().delivery_attempts.count() == 1
