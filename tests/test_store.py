"""The durable inbound store: stored before handling, outcomes recorded, repeats deduped."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from mailserver.ingress.replay import retry
from mailserver.models.inbound import InboundMessage
from mailserver.test import MailClient
from tests.mailconfs import inbound as mailconf

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("inbound_mailconf"),
]


def message(message_id="<m1@example.org>", body="Hello"):
    mid = f"Message-ID: {message_id}\r\n" if message_id else ""
    return (
        f"From: Alice <alice@example.org>\r\nTo: accept@example.com\r\nSubject: Hi there\r\n"
        f"{mid}\r\n{body}\r\n"
    ).encode()


def deliver(*recipients, raw=None, transport="pipe"):
    return MailClient().send_raw(
        raw or message(), sender="alice@example.org", recipients=recipients, transport=transport
    )


def test_message_is_committed_before_the_view_runs():
    [result] = deliver("stored@example.com")
    assert result.smtp_code == 250
    assert mailconf.stored_while_handling == [("received", True)]


def test_row_holds_the_envelope_and_headers():
    deliver("accept@example.com", "other@example.com")
    row = InboundMessage.objects.get()
    assert (row.sender, row.recipients, row.transport) == (
        "alice@example.org",
        ["accept@example.com", "other@example.com"],
        "pipe",
    )
    assert (row.message_id, row.subject, row.size) == (
        "<m1@example.org>",
        "Hi there",
        len(message()),
    )
    assert (row.peer, row.helo) == ("127.0.0.1", "testclient.local")
    assert bytes(row.raw) == message()
    assert (row.route_name, row.view_name) == ("accept, other", "tests.mailconfs.inbound.accept")


@pytest.mark.parametrize(
    ("recipient", "status", "reply"),
    [
        ("accept@example.com", "processed", "250 2.0.0 Message accepted"),
        ("reject@example.com", "rejected", "550 5.7.1 Not here"),
        ("tempfail@example.com", "failed", "452 4.2.2 Mailbox busy"),
        ("flaky@example.com", "failed", "451 4.3.0 Temporary failure, try again later"),
        ("nobody@example.com", "rejected", "550 5.1.1 No such mailbox"),
    ],
)
def test_outcome_is_recorded(recipient, status, reply):
    mailconf.failing.add("flaky@example.com")
    deliver(recipient)
    row = InboundMessage.objects.get()
    assert (row.status, row.reply, row.attempts) == (status, reply, 1)
    assert row.processed_at is not None
    assert row.results[recipient]["code"] == int(reply[:3])


def test_view_traceback_is_kept_but_not_replied():
    mailconf.failing.add("flaky@example.com")
    [result] = deliver("flaky@example.com")
    row = InboundMessage.objects.get()
    assert "RuntimeError: flaky view failed: secret token 1234" in row.error
    assert "secret" not in result.smtp_reply()


def test_request_inbound_is_the_stored_row():
    seen = []
    mailconf.calls.clear()
    from mailserver import signals

    def remember(request, **kwargs):
        seen.append(request.inbound)

    signals.mail_received.connect(remember)
    try:
        deliver("accept@example.com")
    finally:
        signals.mail_received.disconnect(remember)
    assert seen == [InboundMessage.objects.get()]


def test_repeated_delivery_does_not_run_the_view_again():
    first = deliver("accept@example.com")
    second = deliver("accept@example.com")
    assert [r.smtp_code for r in first + second] == [250, 250]
    assert mailconf.calls["accept@example.com"] == 1
    repeat = InboundMessage.objects.order_by("pk").last()
    assert repeat.status == "processed"
    assert repeat.results["accept@example.com"]["outcome"] == "duplicate"


@pytest.mark.parametrize(
    ("first", "second", "calls"),
    [
        # Same Message-ID, other bytes: a different message.
        (message(body="one"), message(body="two"), 2),
        # No Message-ID: identical bytes may still be two genuine messages.
        (message(message_id=None), message(message_id=None), 2),
        (message(), message(), 1),
    ],
)
def test_what_counts_as_a_repeat(first, second, calls):
    deliver("accept@example.com", raw=first)
    deliver("accept@example.com", raw=second)
    assert mailconf.calls["accept@example.com"] == calls


def test_retry_after_451_serves_only_the_recipients_left():
    """SMTP answers one reply per message: a 451 makes the MTA resend to everyone."""
    mailconf.failing.add("flaky@example.com")
    results = deliver("accept@example.com", "flaky@example.com", transport="smtp")
    assert [r.smtp_code for r in results] == [250, 451]
    mailconf.failing.clear()
    results = deliver("accept@example.com", "flaky@example.com", transport="smtp")
    assert [(r.smtp_code, r.outcome.value) for r in results] == [
        (250, "duplicate"),
        (250, "ignored"),
    ]
    assert mailconf.calls == {"accept@example.com": 1, "flaky@example.com": 2}
    # The first delivery is settled, so retrymail will not run it again.
    assert list(InboundMessage.objects.order_by("pk").values_list("status", flat=True)) == [
        "processed",
        "processed",
    ]


def test_retry_runs_a_failed_message_again():
    mailconf.failing.add("flaky@example.com")
    deliver("accept@example.com", "flaky@example.com")
    row = InboundMessage.objects.get()
    mailconf.failing.clear()
    results = retry(row)
    assert [r.recipient for r in results] == ["flaky@example.com"]
    row.refresh_from_db()
    assert (row.status, row.attempts, row.error) == ("processed", 2, "")
    assert mailconf.calls == {"accept@example.com": 1, "flaky@example.com": 2}


@override_settings(MAILSERVER_STORE_INBOUND=False)
def test_storage_can_be_turned_off():
    [result] = deliver("accept@example.com")
    assert result.smtp_code == 250
    assert not InboundMessage.objects.exists()


def test_store_failure_answers_451_and_runs_no_view():
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA query_only = ON")
    try:
        [result] = deliver("accept@example.com")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA query_only = OFF")
    assert (result.smtp_code, result.smtp_status, result.exit_code) == (451, "4.3.0", 75)
    assert "readonly" in result.error
    assert "readonly" not in result.smtp_reply()
    assert mailconf.calls == {}


def test_too_large_and_empty_messages_are_not_stored():
    with override_settings(MAILSERVER_MAX_MESSAGE_SIZE=10):
        [large] = deliver("accept@example.com")
    [empty] = deliver("accept@example.com", raw=b"\r\n")
    assert (large.smtp_code, empty.smtp_code) == (552, 554)
    assert not InboundMessage.objects.exists()


def test_mail_client_stores_with_the_test_transport():
    MailClient().send(from_email="alice@example.org", to="accept@example.com", subject="Hi")
    assert InboundMessage.objects.get().transport == "test"


def make_row(status, days_old, pk_hint=""):
    return InboundMessage.objects.create(
        raw=b"x",
        content_hash=pk_hint,
        transport="pipe",
        status=status,
        received_at=timezone.now() - timedelta(days=days_old),
    )


@pytest.mark.parametrize(
    ("args", "left"),
    [
        ([], {"new processed", "old failed", "new failed"}),
        (["--days", "0"], {"old failed", "new failed"}),
        (["--failed"], {"new processed", "new failed"}),
    ],
)
def test_purgemail(args, left):
    for status, days, name in [
        ("processed", 40, "old processed"),
        ("rejected", 40, "old rejected"),
        ("processed", 1, "new processed"),
        ("failed", 40, "old failed"),
        ("failed", 1, "new failed"),
    ]:
        make_row(status, days, name)
    call_command("purgemail", *args, verbosity=0)
    assert set(InboundMessage.objects.values_list("content_hash", flat=True)) == left


def test_retrymail_command():
    mailconf.failing.update({"flaky@example.com", "flaky2@example.com"})
    deliver("flaky@example.com")
    deliver("flaky2@example.com", raw=message("<m2@example.org>"))
    mailconf.failing.clear()
    call_command("retrymail", "--all-failed", verbosity=0)
    assert set(InboundMessage.objects.values_list("status", flat=True)) == {"processed"}
    assert mailconf.calls == {"flaky@example.com": 2, "flaky2@example.com": 2}
