"""Several worker processes on one PostgreSQL database: exactly once, crash safety, shared rate.

Each test creates a scratch database, enqueues through the project's own code in a
subprocess, runs real ``runmailqueue`` processes against a sink on 127.0.0.1 and
reads the outcome from the sink and the tables. Each stays well under a minute.
"""

import signal
import time
from collections import Counter

import pytest

from tests.outbound_fixtures import django_command, pg_rows, start_worker, wait_until
from tests.test_outbound_worker import assert_within_rate

pytestmark = pytest.mark.postgres


def enqueue_numbered(database: str, count: int, prefix: str = "m") -> None:
    """Queue ``count`` one-recipient messages with Message-IDs <prefix-N@test>."""
    code = (
        "from django.core.mail import EmailMessage\n"
        "from mailserver.outbound import enqueue_many\n"
        f"enqueue_many([EmailMessage('n', 'body', 'site@example.com', [f'u{{n}}@example.net'],"
        f" headers={{'Message-ID': f'<{prefix}-{{n}}@test>'}}) for n in range({count})])\n"
    )
    django_command(["shell", "-c", code], pg=database)


def stop(workers) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        _, err = worker.communicate(timeout=30)
        assert worker.returncode in (0, -signal.SIGKILL), err[-2000:]


def test_four_workers_drain_2000_messages_exactly_once(postgres_database, slow_sink):
    enqueue_numbered(postgres_database, 2000)
    workers = [
        start_worker(pg=postgres_database, MAILSERVER_SINK_PORT=slow_sink.port) for _ in range(4)
    ]
    try:
        # One worker alone would need 2000 x 20 ms = 40 s at the sink; four overlap
        # (bench/bench_outbound.py measures by how much). The bound leaves room for a
        # busy machine.
        assert wait_until(lambda: len(slow_sink.messages) >= 2000, timeout=55, interval=0.2)
    finally:
        stop(workers)
    received = Counter(m.message_id for m in slow_sink.messages)
    assert len(received) == 2000 and set(received.values()) == {1}
    assert pg_rows(
        postgres_database, "SELECT status, count(*) FROM mailserver_outboundrecipient GROUP BY 1"
    ) == [("sent", 2000)]
    workers_used = pg_rows(
        postgres_database, "SELECT count(DISTINCT worker) FROM mailserver_deliveryattempt"
    )[0][0]
    assert workers_used == 4


def test_a_killed_worker_loses_nothing_and_duplicates_nothing_accepted(
    postgres_database, slow_sink
):
    enqueue_numbered(postgres_database, 300)
    env = {"MAILSERVER_SINK_PORT": slow_sink.port, "MAILSERVER_TEST_LEASE": 3}
    env["MAILSERVER_TEST_BATCH"] = 25
    victim = start_worker(pg=postgres_database, **env)
    assert wait_until(lambda: len(slow_sink.messages) >= 40, timeout=30)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=10)
    # What the database says was accepted at the moment of the crash.
    accepted_before = {
        row[0]
        for row in pg_rows(
            postgres_database,
            "SELECT m.message_id FROM mailserver_outboundmessage m "
            "JOIN mailserver_outboundrecipient r ON r.message_id = m.id WHERE r.status = 'sent'",
        )
    }
    stranded = pg_rows(
        postgres_database,
        "SELECT count(*) FROM mailserver_outboundmessage WHERE status = 'sending'",
    )[0][0]
    assert stranded > 0  # the batch in hand is still leased to the dead worker
    rescuer = start_worker(pg=postgres_database, **env)
    try:
        assert wait_until(
            lambda: len({m.message_id for m in slow_sink.messages}) >= 300, timeout=40
        )
    finally:
        stop([rescuer])
    received = Counter(m.message_id for m in slow_sink.messages)
    assert len(received) == 300  # nothing lost
    # Recipients the database knew had accepted are never sent again ...
    assert all(received[message_id] == 1 for message_id in accepted_before)
    # ... and only the message on the wire at the SIGKILL can arrive twice: the server
    # accepted it but the worker died before it could write that down (RFC 1047).
    assert sum(n - 1 for n in received.values()) <= 1
    assert pg_rows(
        postgres_database,
        "SELECT count(*) FROM mailserver_outboundrecipient WHERE status <> 'sent'",
    ) == [(0,)]


def test_two_workers_share_one_rate_limit(postgres_database, sink):
    enqueue_numbered(postgres_database, 120)
    env = {"MAILSERVER_SINK_PORT": sink.port, "MAILSERVER_TEST_RATE": "40/s"}
    workers = [start_worker(pg=postgres_database, **env) for _ in range(2)]
    try:
        assert wait_until(lambda: len(sink.messages) >= 120, timeout=30)
    finally:
        stop(workers)
    stamps = [m.at for m in sink.messages]
    # 120 recipients at 40/s with a burst of 40: at least two seconds however many workers.
    assert max(stamps) - min(stamps) >= 1.9
    assert_within_rate(stamps, 40, burst=40)
    per_worker = pg_rows(
        postgres_database, "SELECT worker, count(*) FROM mailserver_deliveryattempt GROUP BY 1"
    )
    assert len(per_worker) == 2


def test_new_mail_is_picked_up_within_a_second_through_notify(postgres_database, sink):
    worker = start_worker(pg=postgres_database, MAILSERVER_SINK_PORT=sink.port)
    try:
        time.sleep(1.5)
        queued = time.monotonic()
        enqueue_numbered(postgres_database, 1, prefix="live")
        # The shell subprocess itself takes a while to start; measure from its end.
        committed = time.monotonic()
        assert wait_until(lambda: sink.messages, timeout=10)
        assert sink.messages[0].at - committed < 1.0, (queued, committed)
    finally:
        stop([worker])
