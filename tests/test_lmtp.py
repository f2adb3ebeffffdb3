"""``runmailserver --lmtp``: one reply per recipient after DATA (RFC 2033 section 4.2)."""

import smtplib

import pytest

from mailserver.models.inbound import InboundMessage
from tests.ingress_fixtures import message

pytestmark = pytest.mark.django_db(transaction=True)


def deliver(server, recipients, raw=None):
    """Send over LMTP; return the RCPT codes and one DATA reply per accepted recipient."""
    with server.client(lmtp=True) as client:
        client.ehlo("mta.example.org")  # smtplib.LMTP sends LHLO
        client.mail("alice@example.org")
        rcpt = [client.rcpt(r)[0] for r in recipients]
        accepted = rcpt.count(250)
        code, text = client.data(raw or message())
        replies = [f"{code} {text.decode()}"]
        for _ in range(accepted - 1):
            code, text = client.getreply()
            replies.append(f"{code} {text.decode()}")
    return rcpt, replies


def test_each_recipient_gets_its_own_reply(start_server, inbound_mailconf):
    inbound_mailconf.failing.add("flaky@example.com")
    server = start_server(lmtp=True)
    recipients = [
        "accept@example.com",
        "nobody@example.com",
        "reject@example.com",
        "tempfail@example.com",
        "flaky@example.com",
    ]
    rcpt, replies = deliver(server, recipients)
    assert rcpt == [250, 550, 250, 250, 250]
    assert replies == [
        "250 2.0.0 Message accepted",
        "550 5.7.1 Not here",
        "452 4.2.2 Mailbox busy",
        "451 4.3.0 Temporary failure, try again later",
    ]


def test_only_deferred_recipients_are_retried(start_server, inbound_mailconf):
    inbound_mailconf.failing.add("flaky@example.com")
    server = start_server(lmtp=True)
    _, first = deliver(server, ["accept@example.com", "flaky@example.com"])
    assert [r[:3] for r in first] == ["250", "451"]
    inbound_mailconf.failing.clear()
    # The MTA retries the deferred recipient only, with the same message.
    _, second = deliver(server, ["flaky@example.com"])
    assert second == ["250 2.0.0 Message accepted"]
    assert inbound_mailconf.calls == {"accept@example.com": 1, "flaky@example.com": 2}
    server.flush()
    assert list(InboundMessage.objects.order_by("pk").values_list("transport", "status")) == [
        ("lmtp", "processed"),
        ("lmtp", "processed"),
    ]


def test_lmtp_wants_lhlo_not_ehlo(start_server):
    server = start_server(lmtp=True)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        code, _ = client.ehlo()
        assert code == 500


def test_a_too_large_message_is_refused_for_every_recipient(start_server):
    server = start_server(lmtp=True, max_message_size=100)
    _, replies = deliver(server, ["accept@example.com"], raw=message() + b"z" * 200)
    assert replies[0].startswith("552")
