"""Bounces reported by providers: Anymail's tracking webhooks and django-ses's signals."""

import base64
import json
from datetime import timedelta

import pytest
from django.test import override_settings

from mailserver.models import Bounce, Suppression
from mailserver.outbound import enqueue, send_queued
from mailserver.suppression import is_suppressed
from tests.bounces_fixtures import message

pytest.importorskip("anymail")  # the `test` extra installs it

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sink")]

SECRET = "hook:s3cret"
AUTH = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(SECRET.encode()).decode()}


def postmark(record_type: str, type_: str, email: str, **extra) -> dict:
    """A Postmark bounce/spam webhook body, in the shape Postmark documents."""
    return {
        "RecordType": record_type,
        "ID": 4323372036854775807,
        "Type": type_,
        "TypeCode": 1,
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Email": email,
        "From": "site@example.com",
        "BouncedAt": "2026-11-22T10:10:02Z",
        "Description": "The server was unable to deliver your message (ex: unknown user).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Inactive": True,
        "CanActivate": True,
        "Subject": "News",
        "ServerID": 23,
        "Tag": "",
        "MessageStream": "outbound",
        **extra,
    }


@pytest.fixture
def anymail_hooks(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}


def post(client, body):
    return client.post(
        "/anymail/postmark/tracking/", json.dumps(body), content_type="application/json", **AUTH
    )


@pytest.mark.parametrize(
    ("body", "kind", "reason"),
    [
        (postmark("Bounce", "HardBounce", "jo@example.net"), "hard", "bounce"),
        (postmark("SpamComplaint", "SpamComplaint", "jo@example.net"), "complaint", "complaint"),
        (postmark("Bounce", "BadEmailAddress", "jo@example.net"), "hard", "bounce"),
    ],
)
def test_a_postmark_webhook_suppresses(client, anymail_hooks, body, kind, reason):
    enqueue(message("jo@example.net"))
    send_queued()
    response = post(client, body)
    assert response.status_code == 200
    bounce = Bounce.objects.get()
    assert (bounce.kind, bounce.source) == (kind, "anymail:Postmark")
    assert bounce.outbound_recipient is not None
    assert is_suppressed("jo@example.net")
    assert Suppression.objects.get().reason == reason


def test_a_transient_bounce_is_soft(client, anymail_hooks):
    response = post(client, postmark("Bounce", "Transient", "jo@example.net"))
    assert response.status_code == 200
    assert Bounce.objects.get().kind == "soft"
    assert not is_suppressed("jo@example.net")


def test_an_unsubscribe_is_recorded(client, anymail_hooks):
    body = {
        "RecordType": "SubscriptionChange",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "ServerID": 23,
        "MessageStream": "broadcast",
        "ChangedAt": "2026-11-22T10:10:02Z",
        "Recipient": "jo@example.net",
        "Origin": "Recipient",
        "SuppressSending": True,
        "SuppressionReason": "Unsubscribe",
        "Tag": "",
        "Metadata": {},
    }
    assert post(client, body).status_code == 200
    assert Suppression.objects.get().reason == "unsubscribe"


def test_a_webhook_without_the_secret_changes_nothing(client, anymail_hooks):
    response = client.post(
        "/anymail/postmark/tracking/",
        json.dumps(postmark("Bounce", "HardBounce", "jo@example.net")),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert not is_suppressed("jo@example.net")


def test_ses_bounce_and_complaint_signals():
    ses = pytest.importorskip("django_ses.signals")
    mail_obj = {"messageId": "0000-ses", "destination": ["a@example.net", "b@example.net"]}
    ses.bounce_received.send(
        sender=object,
        mail_obj=mail_obj,
        bounce_obj={
            "bounceType": "Permanent",
            "bouncedRecipients": [
                {"emailAddress": "a@example.net", "status": "5.1.1", "diagnosticCode": "550"}
            ],
        },
        raw_message=b"{}",
    )
    ses.complaint_received.send(
        sender=object,
        mail_obj=mail_obj,
        complaint_obj={
            "complainedRecipients": [{"emailAddress": "b@example.net"}],
            "complaintFeedbackType": "abuse",
        },
        raw_message=b"{}",
    )
    assert set(Bounce.objects.values_list("address", "kind", "source")) == {
        ("a@example.net", "hard", "ses"),
        ("b@example.net", "complaint", "ses"),
    }
    assert is_suppressed("a@example.net")
    assert is_suppressed("b@example.net")


@override_settings(MAILSERVER_SOFT_BOUNCE_LIMIT=(1, timedelta(days=1)))
def test_provider_soft_bounces_follow_the_same_policy(client, anymail_hooks):
    post(client, postmark("Bounce", "Transient", "jo@example.net"))
    assert is_suppressed("jo@example.net")
