"""The queue worker against a real SMTP sink: outcomes, retries, throttling, leases, digests."""

import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.core.mail import EmailMessage
from django.test import override_settings
from django.utils import timezone

from mailserver import signals
from mailserver.backends.base import Delivery, Reply
from mailserver.models import DeliveryAttempt, DigestItem, OutboundMessage, ThrottleBucket
from mailserver.outbound import (
    enqueue,
    enqueue_many,
    queue_digest,
    send_digests,
    send_queued,
    throttle,
)
from mailserver.outbound.sending import Sender, retry_delay
from mailserver.outbound.throttle import Throttle
from mailserver.outbound.worker import Worker
from mailserver.suppression import suppress
from tests.outbound_fixtures import deliver_with, django_command, start_worker, wait_until

pytestmark = pytest.mark.django_db


def message(*to, subject="Hello"):
    return EmailMessage(subject, "Body", "site@example.com", list(to or ["u@example.net"]))


def statuses(row):
    return dict(row.recipients.values_list("address", "status"))


def make_due(row):
    OutboundMessage.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())


def test_each_recipient_gets_its_own_outcome(sink):
    row = enqueue(
        message("ok@example.net", "rcpt-451-later@example.net", "rcpt-550-no@example.net")
    )
    send_queued()
    row.refresh_from_db()
    assert statuses(row) == {
        "ok@example.net": "sent",
        "rcpt-451-later@example.net": "deferred",
        "rcpt-550-no@example.net": "failed",
    }
    assert row.status == "deferred" and row.attempts == 1
    assert row.next_attempt_at > timezone.now() + timedelta(minutes=4)
    assert sink.recipients() == ["ok@example.net"]


def test_a_message_of_many_lines_goes_out_with_crlf_line_ends(sink):
    # A strict server (aiosmtpd, so our own runmailserver) reads lines up to CRLF and
    # refuses a "line" of more than 1,000 octets: bare LF line ends would fail here.
    body = "A line of a long notification mail, one of many.\n" * 100
    row = enqueue(EmailMessage("Long", body, "site@example.com", ["u@example.net"]))
    send_queued()
    row.refresh_from_db()
    assert row.status == "sent"
    [received] = sink.messages
    assert received.data.count(b"\r\n") > 100 and b"\n" not in received.data.replace(b"\r\n", b"")
    # The stored bytes (LF, as Django renders them) are what went out, in SMTP's line ends.
    assert received.data.replace(b"\r\n", b"\n").rstrip() == bytes(row.raw).rstrip()


def test_a_retry_goes_only_to_the_recipients_still_waiting(sink):
    row = enqueue(message("ok@example.net", "rcpt-451-later@example.net"))
    send_queued()
    make_due(row)
    send_queued()
    assert sink.recipients() == ["ok@example.net"]  # never sent twice
    [latest, first] = DeliveryAttempt.objects.filter(message=row)
    assert list(latest.replies) == ["rcpt-451-later@example.net"]
    assert set(first.replies) == {"ok@example.net", "rcpt-451-later@example.net"}
    assert row.recipients.get(address="rcpt-451-later@example.net").attempts == 2


@pytest.mark.parametrize(
    ("attempts", "minutes"), [(1, 5), (2, 10), (3, 20), (4, 40), (6, 160), (7, 240), (12, 240)]
)
def test_retry_backoff_doubles_up_to_the_cap(attempts, minutes):
    assert retry_delay(attempts) == timedelta(minutes=minutes)


def test_batch_shares_one_connection(sink):
    enqueue_many([message(f"r{n}@example.net") for n in range(20)])
    stats = send_queued()
    assert (stats.counts["sent"], sink.connections) == (20, 1)


@override_settings(MAILSERVER_SMTP_TRANSCRIPT=True)
def test_attempt_keeps_the_transcript(sink):
    row = enqueue(message("ok@example.net"))
    send_queued()
    attempt = DeliveryAttempt.objects.get(message=row)
    assert "c: mail from:<site@example.com>" in attempt.transcript.lower()
    assert attempt.replies == {"ok@example.net": [250, "2.0.0 Queued"]}


def test_suppression_is_checked_again_at_send(sink):
    row = enqueue(message("late@example.net", "ok@example.net"))
    suppress("late@example.net", "complaint")
    send_queued()
    assert statuses(row) == {"late@example.net": "suppressed", "ok@example.net": "sent"}
    assert sink.recipients() == ["ok@example.net"]


def test_expired_mail_is_not_sent(sink):
    failed = []

    def on_failed(sender, message, recipient, **kwargs):
        failed.append(recipient.address)

    row = enqueue(message("late@example.net"), expires_at=timezone.now() - timedelta(seconds=1))
    signals.mail_failed.connect(on_failed)
    try:
        send_queued()
    finally:
        signals.mail_failed.disconnect(on_failed)
    row.refresh_from_db()
    assert (row.status, statuses(row), sink.messages) == (
        "expired",
        {"late@example.net": "failed"},
        [],
    )
    assert failed == ["late@example.net"]


def test_signals_report_sent_and_failed_recipients(sink):
    seen = []

    def on_sent(sender, message, recipient, **kwargs):
        seen.append(("sent", recipient.address))

    def on_failed(sender, message, recipient, **kwargs):
        seen.append(("failed", recipient.address))

    enqueue(message("ok@example.net", "rcpt-550-no@example.net"))
    signals.mail_sent.connect(on_sent)
    signals.mail_failed.connect(on_failed)
    try:
        send_queued()
    finally:
        signals.mail_sent.disconnect(on_sent)
        signals.mail_failed.disconnect(on_failed)
    assert seen == [("sent", "ok@example.net"), ("failed", "rcpt-550-no@example.net")]


def test_421_backs_off_the_whole_destination(sink):
    first = enqueue(message("rcpt-421-slow@example.net", subject="first"))
    second = enqueue(message("ok@example.net", subject="second"))
    send_queued()
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == "deferred"
    assert second.status == "queued" and second.next_attempt_at > timezone.now()
    assert ThrottleBucket.objects.get(key="*").blocked_until > timezone.now()
    assert sink.messages == []


def test_a_4_7_x_deferral_backs_off_that_domain_only():
    sender = Sender(backend=None, worker_id="w")
    sender._slow_down(Delivery({"a@slow.example": Reply(450, "4.7.1 Too fast")}))
    assert list(ThrottleBucket.objects.values_list("key", flat=True)) == ["domain:slow.example"]


@override_settings(MAILSERVER_RATE_LIMIT="10/s")
def test_rate_limit_counts_recipients(sink):
    enqueue_many([message(f"a{n}@example.net", f"b{n}@example.net") for n in range(10)])
    started = time.monotonic()
    send_queued()
    elapsed = time.monotonic() - started
    # 20 recipients at 10/s with a burst of 10: at least one second.
    assert len(sink.recipients()) == 20 and elapsed >= 0.9
    assert_within_rate([m.at for m in sink.messages for _ in m.rcpt_tos], 10, burst=10)


@override_settings(MAILSERVER_RATE_LIMIT="10/s")
def test_a_bucket_stamped_ahead_of_our_clock_is_not_credited_twice():
    # Another worker's clock runs 5 s ahead, or it stamped the bucket while we waited
    # for its lock: the time up to its stamp must not count again after ours.
    ahead = timezone.now() + timedelta(seconds=5)
    ThrottleBucket.objects.create(key=throttle.GLOBAL, tokens=1, updated_at=ahead)
    assert Throttle().acquire(["a@example.net"]) == 0
    bucket = ThrottleBucket.objects.get(key=throttle.GLOBAL)
    assert bucket.updated_at == ahead and bucket.tokens == 0
    assert Throttle().acquire(["b@example.net"]) > 0  # empty: nothing was credited


def assert_within_rate(timestamps, rate, burst, jitter=0.1):
    """No window of any length holds more than ``rate * length + burst`` events.

    Tokens are taken before the SMTP conversation and the sink stamps arrival after
    it, so a window may look up to ``jitter`` seconds shorter than it was.
    """
    timestamps = sorted(timestamps)
    for i, start in enumerate(timestamps):
        for j in range(i, len(timestamps)):
            allowed = rate * (timestamps[j] - start + jitter) + burst
            assert j - i + 1 <= allowed + 1e-9, (i, j, timestamps[j] - start)


@override_settings(MAILSERVER_DOMAIN_RATE_LIMITS={"slow.example": "1/m"})
def test_mail_waiting_for_its_turn_stays_queued(sink):
    enqueue_many([message("a@slow.example", subject="1"), message("b@slow.example", subject="2")])
    enqueue(message("c@fast.example", subject="3"))
    send_queued()
    assert sorted(sink.recipients()) == ["a@slow.example", "c@fast.example"]
    waiting = OutboundMessage.objects.get(subject="2")
    assert waiting.status == "queued" and waiting.attempts == 0


class Exploding:
    """A delivery backend with a bug: it raises something nobody expected."""

    def send_messages(self, messages):
        raise KeyError("bug")


@override_settings(MAILSERVER_POISON_LIMIT=3)
def test_a_poison_message_is_quarantined_and_never_stalls_the_queue():
    row = enqueue(message("u@example.net"))
    for _ in range(3):
        Worker(backend=Exploding()).drain()
        make_due(row)
    row.refresh_from_db()
    assert (row.status, row.errors) == ("failed", 3)
    assert "Quarantined after 3" in row.last_error and "KeyError" in row.last_error


@override_settings(**deliver_with("django.core.mail.backends.locmem.EmailBackend"))
def test_any_django_backend_can_deliver():
    enqueue(message("ok@example.net", subject="via locmem"))
    send_queued()
    [sent] = mail.outbox
    assert (sent.subject, sent.recipients()) == ("via locmem", ["ok@example.net"])
    assert OutboundMessage.objects.get().status == "sent"


def test_digests_collect_items_into_one_mail_each(settings):
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [Path(__file__).parent / "templates"]}]
    queue_digest("ann@example.net", "daily", {"author": "Bo", "text": "Nice"})
    queue_digest("ann@example.net", "daily", {"author": "Cy", "text": "Agreed"})
    queue_digest("dan@example.net", "daily", {"author": "Bo", "text": "Hi"})
    queue_digest("ann@example.net", "weekly", {"author": "x", "text": "not today"})
    assert send_digests("daily", "outbound/daily") == 2
    assert send_digests("daily", "outbound/daily") == 0  # each item in exactly one digest
    ann = OutboundMessage.objects.get(recipients__address="ann@example.net")
    assert ann.subject == "2 new comments"
    assert "- Bo: Nice\n- Cy: Agreed" in ann.email.get_content()
    assert DigestItem.objects.filter(key="weekly", sent_at=None).count() == 1


@pytest.fixture
def file_database(tmp_path):
    """An SQLite file shared with worker subprocesses, with the tables created."""
    path = tmp_path / "queue.sqlite3"
    django_command(["migrate", "--run-syncdb", "-v", "0"], sqlite=str(path))
    return str(path)


def test_sqlite_allows_one_worker_at_a_time(file_database, sink):
    first = start_worker("runmailqueue", sqlite=file_database, MAILSERVER_SINK_PORT=sink.port)
    try:
        time.sleep(1.5)  # let it take the lock
        second = start_worker(
            "sendmailqueue", sqlite=file_database, MAILSERVER_SINK_PORT=sink.port
        )
        _, err = second.communicate(timeout=30)
        assert second.returncode == 1
        assert "Another mail queue worker is already running" in err
        assert "use PostgreSQL to run several workers" in err
    finally:
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=30)
    assert first.returncode == 0, err
    assert "stopped after" in out


def test_runmailqueue_sends_new_mail_and_stops_on_sigterm(file_database, sink):
    worker = start_worker("runmailqueue", sqlite=file_database, MAILSERVER_SINK_PORT=sink.port)
    try:
        time.sleep(1.0)
        django_command(
            [
                "shell",
                "-c",
                "from django.core.mail import EmailMessage; "
                "from mailserver.outbound import enqueue; "
                "enqueue(EmailMessage('s', 'b', 'a@example.com', ['live@example.net']))",
            ],
            sqlite=file_database,
        )
        assert wait_until(lambda: sink.recipients() == ["live@example.net"], timeout=10)
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert "1 sent" in out


def test_a_worker_whose_lease_was_taken_over_does_not_send(sink):
    from mailserver.outbound.claim import claim

    enqueue(message("once@example.net"))
    [slow] = claim("slow-worker", 10)
    # The slow worker's lease runs out (in the database and as it knows it) ...
    slow.lease_expires_at = timezone.now() - timedelta(seconds=1)
    OutboundMessage.objects.update(lease_expires_at=slow.lease_expires_at)
    # ... another worker takes the message over, and the slow one must then keep off it.
    [fast] = claim("fast-worker", 10)
    assert Sender(backend=None, worker_id="slow-worker").process(slow) == "lost"
    from mailserver.outbound.delivery import get_delivery_backend

    backend = get_delivery_backend()
    assert Sender(backend, worker_id="fast-worker").process(fast) == "sent"
    backend.close()
    assert sink.recipients() == ["once@example.net"]
