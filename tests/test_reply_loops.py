"""Reply loops: two autoresponders answering each other must stop, and fast.

Each test plays both sides through the whole pipeline: the reply one deployment
queued is delivered to the other, whose reply is delivered back, and so on. A
loop that does not stop would queue a reply on every round.
"""

import uuid

import pytest
from django.test import override_settings

from mailserver.exceptions import MailServerConfigurationError
from mailserver.middleware import parse_count_rate
from mailserver.test import MailClient
from mailserver.test.outbox import queued_mail

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("hardening_mailconf"),
]

ROUNDS = 50


@pytest.fixture
def hardening_mailconf():
    with override_settings(ROOT_MAILCONF="tests.mailconfs.hardening"):
        yield


def first_message(sender="desk@example.net", to="desk@example.com", extra=b"") -> bytes:
    return (
        (
            f"From: {sender}\r\nTo: {to}\r\nSubject: Hello\r\n"
            f"Message-ID: <{uuid.uuid4().hex}@example.net>\r\n"
        ).encode()
        + extra
        + b"\r\nHi\r\n"
    )


def take_reply():
    """Remove and return the one queued reply, or None."""
    queued = queued_mail()
    assert len(queued) <= 1
    if not queued:
        return None
    queued[0].outbound.delete()
    return queued[0]


def play(raw: bytes, sender: str, recipient: str, rewrite=lambda raw: raw) -> int:
    """Bounce replies between the two desks; return how many replies were queued.

    ``rewrite`` stands for what the other side's software does to our reply before its
    own responder answers it (strip headers, add a Received line, ...).
    """
    replies = 0
    for _ in range(ROUNDS):
        [result] = MailClient().send_raw(raw, sender=sender, recipients=[recipient])
        assert result.smtp_code == 250  # every round is accepted; only the reply is dropped
        reply = take_reply()
        if reply is None:
            return replies
        replies += 1
        raw = rewrite(bytes(reply.outbound.raw))
        sender, recipient = reply.from_email, reply.to[0]
    return replies


def strip_headers(raw: bytes, *names: bytes) -> bytes:
    head, _, body = raw.partition(b"\n\n")
    lines = [
        line
        for line in head.split(b"\n")
        if not any(line.lower().startswith(name.lower() + b":") for name in names)
    ]
    return b"\n".join(lines) + b"\n\n" + body


def test_marked_replies_are_never_answered():
    """RFC 3834: our replies say Auto-Submitted: auto-replied, so the other desk stays silent."""
    assert play(first_message(), "desk@example.net", "desk@example.com") == 1


@pytest.mark.parametrize(
    "marker",
    [b"Precedence: bulk\r\n", b"Precedence: junk\r\n", b"X-Autoreply: yes\r\n"],
)
def test_other_markers_of_automatic_mail_are_honoured(marker):
    raw = first_message(extra=marker)
    assert play(raw, "desk@example.net", "desk@example.com") == 0


@override_settings(MAILSERVER_AUTOREPLY_RATE_LIMIT="5/h")
def test_unmarked_responder_is_stopped_by_the_rate_limit():
    """A responder that strips Auto-Submitted would loop forever without the limit."""
    replies = play(
        first_message(),
        "desk@example.net",
        "desk@example.com",
        rewrite=lambda raw: strip_headers(raw, b"Auto-Submitted"),
    )
    # Each side answers the other at most five times: 10 replies, then silence.
    assert replies == 10


@override_settings(MAILSERVER_MAX_RECEIVED_HEADERS=30, MAILSERVER_AUTOREPLY_RATE_LIMIT=None)
def test_forwarding_loop_is_refused_by_the_received_count():
    """Mail passed back and forth gains a Received line per hop (RFC 5321 section 6.3)."""
    raw = first_message(sender="eve@example.org", to="accept@example.com")
    codes = []
    for hop in range(ROUNDS):
        raw = b"Received: from hop%d.example.net; Sun, 22 Nov 2026 10:00:00 +0000\r\n" % hop + raw
        [result] = MailClient().send_raw(
            raw, sender="eve@example.org", recipients=["desk@example.com"]
        )
        codes.append(result.smtp_code)
        take_reply()
        if result.smtp_code != 250:
            break
    assert codes == [250] * 30 + [554]


@override_settings(MAILSERVER_AUTOREPLY_RATE_LIMIT="3/h")
def test_rate_limit_counts_per_sender():
    def replies_to(sender, count):
        got = 0
        for _ in range(count):
            MailClient().send_raw(
                first_message(sender=sender), sender=sender, recipients=["desk@example.com"]
            )
            got += take_reply() is not None
        return got

    assert replies_to("alice@example.org", 5) == 3
    assert replies_to("bob@example.org", 5) == 3
    assert replies_to("ALICE@example.org", 1) == 0  # the same mailbox


@override_settings(MAILSERVER_AUTOREPLY_RATE_LIMIT="3/h")
def test_mail_to_someone_else_is_not_counted():
    """Only replies that go back to the sender are limited: a view may notify staff."""
    for _ in range(5):
        MailClient().send_raw(
            first_message(sender="alice@example.org", to="notify@example.com"),
            sender="alice@example.org",
            recipients=["notify@example.com"],
        )
    assert [m.to for m in queued_mail()] == [["staff@example.com"]] * 5


@override_settings(MAILSERVER_AUTOREPLY_RATE_LIMIT=None)
def test_rate_limit_can_be_turned_off():
    for _ in range(8):
        MailClient().send_raw(
            first_message(sender="alice@example.org"),
            sender="alice@example.org",
            recipients=["desk@example.com"],
        )
    assert len(queued_mail()) == 8


@pytest.mark.parametrize(
    ("text", "parsed"), [("5/h", (5, 3600)), ("20/d", (20, 86400)), ("10/2m", (10, 120))]
)
def test_parse_count_rate(text, parsed):
    assert parse_count_rate(text) == parsed


@pytest.mark.parametrize("text", ["5", "five/h", "0.5/h", "5/w"])
def test_a_bad_rate_names_the_setting(text):
    with pytest.raises(MailServerConfigurationError, match="MAILSERVER_AUTOREPLY_RATE_LIMIT"):
        parse_count_rate(text)


@pytest.mark.django_db(transaction=True)
def test_rate_limit_holds_for_async_views_on_runmailserver(start_server):
    """Async views run the middleware's async path, on the server's event loop."""
    server = start_server()
    with override_settings(
        ROOT_MAILCONF="tests.mailconfs.hardening", MAILSERVER_AUTOREPLY_RATE_LIMIT="3/h"
    ):
        for _ in range(5):
            with server.client() as client:
                client.sendmail(
                    "alice@example.org",
                    ["async-desk@example.com"],
                    first_message(sender="alice@example.org", to="async-desk@example.com"),
                )
        server.flush()
        assert [m.to for m in queued_mail()] == [["alice@example.org"]] * 3
