"""Faults on the sending side: killed workers, a failing smarthost, a full database.

The promise: every recipient gets the message, a recipient that accepted it (as the
database knows) never gets it again, and nothing is marked sent that the smarthost
did not accept. Each fault is real: workers are killed with SIGKILL, the smarthost is
an aiosmtpd server on 127.0.0.1 that drops the connection, answers 421 or never
answers, and the database is a SQLite file that runs out of pages.
"""

import random
import signal
import socket
import threading
import time
from collections import Counter

import pytest
from django.core.mail import EmailMessage, send_mail
from django.db import OperationalError, connection
from django.test import override_settings
from django.utils import timezone

from mailserver.backends.smtp import DeliveryBackend
from mailserver.models import OutboundMessage
from mailserver.outbound import enqueue_many, send_queued
from mailserver.test.smtpsink import SMTPSink
from tests.outbound_fixtures import (
    deliver_to,
    pg_rows,
    queued_by_default,
    start_worker,
    wait_until,
)
from tests.test_outbound_postgres import enqueue_numbered, stop


def numbered(count: int, prefix: str) -> list[EmailMessage]:
    return [
        EmailMessage(
            "n",
            "body",
            "site@example.com",
            [f"u{n}@example.net"],
            headers={"Message-ID": f"<{prefix}-{n}@test>"},
        )
        for n in range(count)
    ]


def sent_ids() -> set[str]:
    return set(
        OutboundMessage.objects.filter(recipients__status="sent").values_list(
            "message_id", flat=True
        )
    )


# A worker killed again and again -------------------------------------------------------


@pytest.mark.postgres
def test_twenty_sigkills_over_2000_messages_lose_nothing_and_repeat_nothing_accepted(
    postgres_database,
):
    """Kill the worker at random points (claiming, mid-batch, mid-DATA, writing results)."""
    total, kills = 2000, 20
    enqueue_numbered(postgres_database, total, prefix="k")
    rng = random.Random(8)  # fixed: a failure can be replayed
    with SMTPSink(delay=0.002) as sink:
        env = {
            "MAILSERVER_SINK_PORT": sink.port,
            "MAILSERVER_TEST_LEASE": 1,
            "MAILSERVER_TEST_BATCH": 20,
        }
        started = time.monotonic()
        snapshots = []  # (Message-IDs the database says were accepted, sink counts then)
        for _ in range(kills):
            victim = start_worker(pg=postgres_database, **env)
            time.sleep(rng.uniform(0.8, 2.0))  # a worker needs ~0.7 s to start
            victim.send_signal(signal.SIGKILL)
            victim.communicate(timeout=10)
            accepted = {
                row[0]
                for row in pg_rows(
                    postgres_database,
                    "SELECT m.message_id FROM mailserver_outboundmessage m JOIN "
                    "mailserver_outboundrecipient r ON r.message_id = m.id "
                    "WHERE r.status = 'sent'",
                )
            }
            snapshots.append((accepted, Counter(m.message_id for m in sink.messages)))
        killed_at = len({m.message_id for m in sink.messages})
        survivor = start_worker(pg=postgres_database, **env)
        try:
            drained = wait_until(
                lambda: len({m.message_id for m in sink.messages}) >= total, timeout=85
            )
            assert drained, pg_rows(
                postgres_database,
                "SELECT status, attempts, count(*), min(next_attempt_at) - now() "
                "FROM mailserver_outboundmessage GROUP BY 1, 2",
            )
            time.sleep(1.5)  # past the lease: anything still 'sending' would be stranded
        finally:
            stop([survivor])
        elapsed = time.monotonic() - started
        received = Counter(m.message_id for m in sink.messages)

    duplicates = sum(n - 1 for n in received.values())
    print(f"{kills} kills; {killed_at} delivered before the survivor; {duplicates} twice")
    assert 0 < killed_at < total  # the kills did land mid-queue
    assert len(received) == total  # everyone got it
    for accepted, then in snapshots:
        # Once the database knew a recipient had accepted, it was never sent again.
        assert all(received[i] == then[i] for i in accepted)
    # Only a message on the wire at a SIGKILL can arrive twice (accepted by the server,
    # not yet written down: RFC 1047), so at most one per kill.
    assert duplicates <= kills
    assert pg_rows(
        postgres_database,
        "SELECT status, count(*) FROM mailserver_outboundmessage GROUP BY 1",
    ) == [("sent", total)]
    assert elapsed < 120


# The smarthost fails -------------------------------------------------------------------


class FlakySmarthost:
    """An SMTP server that accepts ``accept`` messages, then drops the connection at DATA."""

    def __init__(self, accept: int) -> None:
        from aiosmtpd.controller import Controller

        self.accept = accept
        self.accepted: list[str] = []
        owner = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                if len(owner.accepted) >= owner.accept:
                    server.transport.abort()  # gone, mid-batch, without a reply
                    return "451 never sent"
                data = envelope.original_content or envelope.content
                from email.parser import BytesHeaderParser

                owner.accepted.append(BytesHeaderParser().parsebytes(data)["Message-ID"])
                return "250 2.0.0 OK"

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc_info):
        self.controller.stop()


class SilentSmarthost:
    """A TCP server that accepts connections and never says a word (a hung smarthost)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(10)
        self.port = self.sock.getsockname()[1]
        self.clients: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            self.clients.append(client)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.sock.close()
        for client in self.clients:
            client.close()


def assert_deferred_with_backoff(rows, now):
    for row in rows:
        row.refresh_from_db()
        assert row.status in ("deferred", "queued"), row.status
        assert row.next_attempt_at > now  # backed off, not hammered
        assert set(row.recipients.values_list("status", flat=True)) <= {"deferred", "queued"}


@pytest.mark.django_db
def test_smarthost_gone_mid_batch_defers_the_rest_and_marks_only_accepted_sent():
    with (
        FlakySmarthost(accept=3) as smarthost,
        override_settings(**deliver_to("127.0.0.1", smarthost.port)),
    ):
        rows = enqueue_many(numbered(10, "gone"))
        now = timezone.now()
        send_queued()
    assert sent_ids() == set(smarthost.accepted)
    assert len(smarthost.accepted) == 3
    assert_deferred_with_backoff([r for r in rows if r.message_id not in sent_ids()], now)


@pytest.mark.django_db
def test_smarthost_answering_421_defers_everything():
    with (
        SMTPSink(data_reply="421 4.3.2 Shutting down") as sink,
        override_settings(**deliver_to("127.0.0.1", sink.port)),
    ):
        rows = enqueue_many(numbered(5, "421"))
        now = timezone.now()
        send_queued()
    assert sent_ids() == set()
    assert_deferred_with_backoff(rows, now)


@pytest.mark.django_db
def test_hung_smarthost_times_out_and_defers():
    with (
        SilentSmarthost() as smarthost,
        override_settings(**deliver_to("127.0.0.1", smarthost.port, timeout=1)),
    ):
        rows = enqueue_many(numbered(3, "hung"))
        now = timezone.now()
        started = time.monotonic()
        send_queued()
        elapsed = time.monotonic() - started
    assert elapsed < 10
    assert sent_ids() == set()
    assert_deferred_with_backoff(rows, now)


def test_a_smarthost_can_never_hang_a_worker_forever():
    """Without EMAIL_TIMEOUT, Django's default is no timeout at all: ours is bounded."""
    backend = DeliveryBackend(host="127.0.0.1", port=25)
    assert backend.timeout is not None and 0 < backend.timeout <= 600


# The database is full ------------------------------------------------------------------


@pytest.fixture
def full_database(tmp_path):
    """Make the test database a SQLite file that cannot grow past its current pages."""
    if connection.vendor != "sqlite":
        pytest.skip("Fills a SQLite database file.")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA page_count")
        [pages] = cursor.fetchone()
        cursor.execute(f"PRAGMA max_page_count = {pages + 2}")
    yield
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA max_page_count = 1073741823")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("full_database")
def test_send_mail_raises_when_the_database_is_full():
    body = "x" * 200_000  # more than the two pages left
    with override_settings(**queued_by_default()), pytest.raises(OperationalError, match="full"):
        send_mail("Hello", body, "site@example.com", ["u@example.net"])
    assert not OutboundMessage.objects.exists()  # nothing half-queued


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("full_database")
def test_a_full_database_fails_the_whole_batch_not_part_of_it():
    messages = numbered(200, "full")
    for message in messages:
        message.body = "y" * 2000
    with pytest.raises(OperationalError, match="full"):
        enqueue_many(messages)
    assert not OutboundMessage.objects.exists()
