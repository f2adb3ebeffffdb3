"""Delivery and queued backends against a real SMTP sink on 127.0.0.1."""

import smtplib

import pytest
from django.core import mail
from django.core.mail import EmailMessage, mail_admins, send_mail
from django.test import override_settings

from mailserver.backends import QueuedEmailBackend
from mailserver.backends.smtp import DeliveryBackend
from mailserver.exceptions import MailServerConfigurationError
from mailserver.models import OutboundMessage
from mailserver.outbound.delivery import get_delivery_backend
from mailserver.test.smtpsink import SMTPSink
from tests.outbound_fixtures import MAILERS_STYLE, combine, deliver_with, queued_by_default

RAW = b"From: a@example.com\r\nTo: x@example.net\r\nSubject: t\r\nMessage-ID: <t@x>\r\n\r\nhi\r\n"


@pytest.mark.parametrize(
    ("recipient", "code", "accepted"),
    [
        ("ok@example.net", 250, True),
        ("rcpt-451-busy@example.net", 451, False),
        ("rcpt-452-full@example.net", 452, False),
        ("rcpt-550-nobody@example.net", 550, False),
        ("rcpt-553-bad@example.net", 553, False),
    ],
)
def test_each_recipient_gets_its_own_reply(sink, recipient, code, accepted):
    backend = DeliveryBackend(host="127.0.0.1", port=sink.port)
    delivery = backend.deliver("a@example.com", ["other@example.net", recipient], RAW)
    backend.close()
    assert delivery.replies["other@example.net"].code == 250
    assert (delivery.replies[recipient].code, delivery.replies[recipient].accepted) == (
        code,
        accepted,
    )
    # Only the accepted recipients are in the envelope the server received.
    assert sink.recipients() == ["other@example.net"] + ([recipient] if accepted else [])


def test_no_data_is_sent_when_every_recipient_is_refused(sink):
    backend = DeliveryBackend(host="127.0.0.1", port=sink.port)
    delivery = backend.deliver("a@example.com", ["rcpt-550-a@example.net"], RAW)
    backend.close()
    assert delivery.replies["rcpt-550-a@example.net"].permanent
    assert sink.messages == []


def test_one_connection_serves_many_messages(sink):
    backend = DeliveryBackend(host="127.0.0.1", port=sink.port)
    for n in range(5):
        backend.deliver("a@example.com", [f"r{n}@example.net"], RAW)
    backend.close()
    assert (sink.connections, len(sink.messages)) == (1, 5)


def test_refusal_after_data_applies_to_the_accepted_recipients_only():
    with SMTPSink(data_reply="554 5.7.1 Spam") as sink:
        backend = DeliveryBackend(host="127.0.0.1", port=sink.port)
        delivery = backend.deliver(
            "a@example.com", ["ok@example.net", "rcpt-451-x@example.net"], RAW
        )
        backend.close()
    assert {a: r.code for a, r in delivery.replies.items()} == {
        "ok@example.net": 554,
        "rcpt-451-x@example.net": 451,
    }


@pytest.mark.parametrize("transcript", [True, False])
def test_transcript_records_the_conversation_but_not_the_body(sink, transcript):
    with override_settings(MAILSERVER_SMTP_TRANSCRIPT=transcript):
        backend = DeliveryBackend(host="127.0.0.1", port=sink.port)
        delivery = backend.deliver("a@example.com", ["ok@example.net"], RAW)
        backend.close()
    if transcript:
        # smtplib spells commands in lower case before Python 3.13, upper case after.
        assert "c: rcpt to:<ok@example.net>" in delivery.transcript.lower()
        assert "S: 250 2.0.0 Queued" in delivery.transcript
        assert "<message data," in delivery.transcript
        assert "hi" not in delivery.transcript.split("<message data")[1]
    else:
        assert delivery.transcript == ""


def test_unreachable_server_is_a_temporary_failure_of_everyone():
    with SMTPSink() as sink:
        port = sink.port
    backend = DeliveryBackend(host="127.0.0.1", port=port, timeout=2)
    delivery = backend.deliver("a@example.com", ["a@example.net", "b@example.net"], RAW)
    assert {r.code for r in delivery.replies.values()} == {451}
    assert "ConnectionRefusedError" in delivery.error
    assert not delivery.poison


def test_delivery_backend_works_as_a_django_email_backend(sink):
    backend = DeliveryBackend(host="127.0.0.1", port=sink.port)
    sent = backend.send_messages(
        [EmailMessage("s", "b", "a@example.com", ["ok@example.net", "rcpt-550-x@example.net"])]
    )
    assert sent == 1
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        backend.send_messages([EmailMessage("s", "b", "a@example.com", ["rcpt-550-y@x.net"])])


@pytest.mark.django_db
def test_send_mail_is_queued_not_sent(sink):
    with override_settings(**queued_by_default()):
        assert send_mail("Hello", "Body", "site@example.com", ["u@example.net"]) == 1
    [queued] = OutboundMessage.objects.all()
    assert (queued.subject, queued.status, sink.messages) == ("Hello", "queued", [])
    assert [r.address for r in queued.recipients.all()] == ["u@example.net"]


# Django 6.1 wants ADMINS as plain addresses; 5.2 as (name, address) pairs.
ADMINS = ["ops@example.com"] if MAILERS_STYLE else [("Ops", "ops@example.com")]


@pytest.mark.django_db
def test_mail_admins_goes_through_the_queue():
    from mailserver.outbound import send_queued

    locmem = deliver_with("django.core.mail.backends.locmem.EmailBackend")
    with override_settings(
        ADMINS=ADMINS, SERVER_EMAIL="server@example.com", **combine(queued_by_default(), locmem)
    ):
        mail_admins("Disk full", "It is.")
        assert mail.outbox == []
        [queued] = OutboundMessage.objects.all()
        assert queued.from_email == "server@example.com"
        send_queued()
    [sent] = mail.outbox
    assert (sent.to, sent.subject) == (["ops@example.com"], "[Django] Disk full")


def test_queued_backend_checks_its_priority_option():
    with pytest.raises(ValueError, match="Unknown priority"):
        QueuedEmailBackend(priority="urgent")


@pytest.mark.parametrize(
    "name",
    ["mailserver.backends.QueuedEmailBackend", "mailserver.backends.nope.Backend"],
)
def test_delivery_backend_setting_is_checked(name):
    with (
        override_settings(MAILSERVER_DELIVERY_BACKEND=name),
        pytest.raises(MailServerConfigurationError, match="MAILSERVER_DELIVERY_BACKEND"),
    ):
        get_delivery_backend()
