"""The default middleware, and custom middleware written the Django way."""

import uuid

import pytest
from django.test import override_settings

from mailserver.response import EmailRejectResponse
from mailserver.test import MailClient, queued_mail

pytestmark = pytest.mark.django_db


def received_headers(count):
    return b"".join(
        b"Received: from hop%d by example.net; Sun, 1 Nov 2026\r\n" % i for i in range(count)
    )


def message(extra=b"", to=b"echo@example.com"):
    """A new message each call: the inbound store answers a repeated Message-ID itself."""
    return (
        extra
        + b"From: alice@example.org\r\nTo: "
        + to
        + b"\r\nSubject: hi\r\n"
        + b"Message-ID: <"
        + uuid.uuid4().hex.encode()
        + b"@example.org>\r\n\r\nbody\r\n"
    )


@override_settings(MAILSERVER_MAX_RECEIVED_HEADERS=5)
@pytest.mark.parametrize(("hops", "code"), [(5, 250), (6, 554)])
def test_loop_protection_counts_received_headers(hops, code):
    [result] = MailClient().send_raw(
        message(received_headers(hops)),
        sender="alice@example.org",
        recipients=["echo@example.com"],
    )
    assert result.smtp_code == code
    if code == 554:
        assert result.smtp_status == "5.4.6"
        assert result.exit_code == 69


@pytest.mark.parametrize(
    ("sender", "headers"),
    [
        ("", b""),  # a null envelope sender: a bounce
        ("alice@example.org", b"Auto-Submitted: auto-replied\r\n"),
        ("alice@example.org", b"Precedence: bulk\r\n"),
        ("alice@example.org", b"Precedence: list\r\n"),
    ],
)
def test_no_reply_to_bounces_or_automatic_mail(sender, headers):
    [result] = MailClient().send_raw(
        message(headers), sender=sender, recipients=["echo@example.com"]
    )
    assert result.smtp_code == 250  # accepted: the view ran
    assert queued_mail() == []  # but its reply was dropped


def test_ordinary_mail_gets_its_reply():
    MailClient().send_raw(message(), sender="alice@example.org", recipients=["echo@example.com"])
    assert len(queued_mail()) == 1


class VIPOnly:
    """A project middleware: refuse senders outside example.org."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.envelope_from.endswith("@example.org"):
            return EmailRejectResponse("Members only", 550, "5.7.1")
        return self.get_response(request)


class Raising:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raise RuntimeError("middleware bug")


@override_settings(MAILSERVER_MIDDLEWARE=["tests.test_middleware.VIPOnly"])
def test_custom_middleware_can_refuse():
    client = MailClient()
    [ok] = client.send_raw(message(), sender="alice@example.org", recipients=["echo@example.com"])
    [refused] = client.send_raw(
        message(), sender="mallory@evil.test", recipients=["echo@example.com"]
    )
    assert (ok.smtp_code, refused.smtp_code, refused.text) == (250, 550, "Members only")


@override_settings(MAILSERVER_MIDDLEWARE=["tests.test_middleware.Raising"])
def test_middleware_exception_is_a_temporary_failure():
    [result] = MailClient().send_raw(
        message(), sender="alice@example.org", recipients=["echo@example.com"]
    )
    assert (result.smtp_code, result.smtp_status, result.exit_code) == (451, "4.3.0", 75)
