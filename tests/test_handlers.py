"""Every row of the reply-code table, through the whole pipeline with MailClient."""

import pytest
from django.core import mail
from django.test import override_settings

from mailserver import signals
from mailserver.test import MailClient
from mailserver.test.outbox import queued_mail
from tests.mailconfs import basic

pytestmark = pytest.mark.django_db


@pytest.fixture
def client():
    basic.seen.clear()
    return MailClient()


def send(client, to, **kwargs):
    kwargs.setdefault("subject", "Hello")
    kwargs.setdefault("body", "Hi there")
    [result] = client.send(from_email="alice@example.org", to=to, **kwargs)
    return result


@pytest.mark.parametrize(
    ("recipient", "code", "status", "exit_code"),
    [
        ("echo@example.com", 250, "2.0.0", 0),
        ("ignore@example.com", 250, "2.0.0", 0),
        ("accept@example.com", 250, "2.0.0", 0),
        ("reject@example.com", 554, "5.7.1", 69),
        ("tempfail@example.com", 452, "4.2.2", 75),
        ("raise-reject@example.com", 550, "5.7.1", 69),
        ("raise-tempfail@example.com", 451, "4.3.0", 75),
        ("nobody@example.com", 550, "5.1.1", 67),
        ("broken@example.com", 451, "4.3.0", 75),
        ("wrong-type@example.com", 451, "4.3.0", 75),
        ("async@example.com", 250, "2.0.0", 0),
    ],
)
def test_outcome_table(client, recipient, code, status, exit_code):
    result = send(client, recipient)
    assert (result.recipient, result.smtp_code, result.smtp_status, result.exit_code) == (
        recipient,
        code,
        status,
        exit_code,
    )


def test_view_exception_text_never_reaches_the_peer(client):
    result = send(client, "broken@example.com")
    assert "secret" not in result.smtp_reply()
    assert "RuntimeError: secret database password" in result.error


def test_reply_is_sent_to_the_sender(client):
    send(client, "echo@example.com", subject="Question", body="Is it on?")
    # Replies are queued (mailserver.handlers.send_response); a worker sends them.
    [reply] = queued_mail()
    assert reply.to == ["alice@example.org"]
    assert reply.subject == "Re: Question"
    assert "You wrote: Is it on?" in reply.body
    assert reply.extra_headers["Auto-Submitted"] == "auto-replied"


def test_async_view_reply_is_sent(client):
    send(client, "async@example.com")
    assert [m.body.strip() for m in queued_mail()] == ["async reply"]


def test_ignore_and_none_send_nothing(client):
    send(client, "ignore@example.com")
    send(client, "accept@example.com")
    assert queued_mail() == []
    assert len(basic.seen) == 2


def test_each_envelope_recipient_is_handled_once(client):
    results = client.send(
        from_email="alice@example.org",
        to=["echo@example.com", "nobody@example.com"],
        cc=["reject@example.com"],
        subject="Many",
    )
    assert [(r.recipient, r.smtp_code) for r in results] == [
        ("echo@example.com", 250),
        ("nobody@example.com", 550),
        ("reject@example.com", 554),
    ]
    assert [r.recipient for r in basic.seen] == ["echo@example.com"]


def test_view_sees_envelope_and_route(client):
    client.send_raw(
        b"From: Bob <bob@example.org>\r\nTo: ignore@example.com\r\nSubject: x\r\n\r\nbody\r\n",
        sender="bounce-bob@example.org",
        recipients=["ignore@example.com"],
    )
    [request] = basic.seen
    assert request.envelope_from == "bounce-bob@example.org"
    assert request.recipient == "ignore@example.com"
    assert request.recipients == ["ignore@example.com"]
    assert request.transport == "test"
    assert request.peer == "127.0.0.1"
    assert request.resolver_match.route_name == "ignore"


def test_empty_message_is_malformed(client):
    [result] = client.send_raw(b"  \r\n", sender="a@example.org", recipients=["echo@example.com"])
    assert (result.smtp_code, result.smtp_status, result.exit_code) == (554, "5.6.0", 65)


@override_settings(MAILSERVER_MAX_MESSAGE_SIZE=100)
def test_too_large_message_is_refused(client):
    [result] = client.send_raw(
        b"Subject: big\r\n\r\n" + b"x" * 200, sender="a@b.org", recipients=["echo@example.com"]
    )
    assert (result.smtp_code, result.exit_code) == (552, 65)
    assert basic.seen == []


def test_signals_report_acceptance_and_rejection(client):
    received, rejected = [], []

    def on_received(sender, request, result, **kwargs):
        received.append(result.recipient)

    def on_rejected(sender, request, result, **kwargs):
        rejected.append(result.recipient)

    signals.mail_received.connect(on_received)
    signals.mail_rejected.connect(on_rejected)
    try:
        client.send(from_email="a@example.org", to=["accept@example.com", "reject@example.com"])
    finally:
        signals.mail_received.disconnect(on_received)
        signals.mail_rejected.disconnect(on_rejected)
    assert (received, rejected) == (["accept@example.com"], ["reject@example.com"])


def test_reject_response_validates_its_code():
    from mailserver.response import EmailRejectResponse

    with pytest.raises(ValueError, match="4xx/5xx"):
        EmailRejectResponse("x", code=250)
    with pytest.raises(ValueError):
        EmailRejectResponse("x", code=550, status="4.0.0")


def test_replies_are_queued_even_under_the_test_runners_locmem_backend(client):
    # What a test sees is what production does: the reply waits in the queue.
    send(client, "echo@example.com")
    assert mail.outbox == []
    [queued] = queued_mail(status="queued")
    assert queued.outbound.priority_name == "normal"
