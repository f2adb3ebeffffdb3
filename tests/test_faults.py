"""The database fails while mail arrives: the sender is told to retry, nothing is lost.

``readmail`` and ``runmailserver`` run as real subprocesses on a SQLite file that the
test locks (another connection holds ``BEGIN EXCLUSIVE``, as a long migration or a
backup would) or takes away. While it is gone the sender gets 451 / exit 75, nothing
is half-written, and when it is back the MTA's retry delivers the message once.
"""

import smtplib
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.hardening_fixtures import command_env, migrate
from tests.test_runmailserver import start_command

EX_OK, EX_TEMPFAIL = 0, 75

MESSAGE = (
    b"From: alice@example.org\r\nTo: accept@example.com\r\nSubject: faults\r\n"
    b"Message-ID: <fault-%s@example.org>\r\n\r\nHello\r\n"
)


def environment(db: Path) -> dict:
    return command_env(db, settings="tests.settings_inbound")


@pytest.fixture
def env(tmp_path):
    return migrate(environment(tmp_path / "db.sqlite3"))


@contextmanager
def locked(db: str):
    """Hold SQLite's exclusive lock: no other connection can read or write."""
    connection = sqlite3.connect(db, isolation_level=None)
    connection.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


def rows(db: str) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute(
            "SELECT message_id, status FROM mailserver_inboundmessage ORDER BY id"
        ).fetchall()


ENVELOPE = ["--sender", "alice@example.org", "--recipient", "accept@example.com"]


def readmail(env: dict, raw: bytes) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "django", "readmail", *ENVELOPE],
        input=raw,
        capture_output=True,
        env=env,
        timeout=60,
    )


# readmail ------------------------------------------------------------------------------


def test_readmail_defers_while_the_database_is_locked_then_delivers_once(env):
    db = env["MAILSERVER_TEST_DB"]
    raw = MESSAGE % b"pipe-locked"
    with locked(db):
        deferred = readmail(env, raw)
    assert deferred.returncode == EX_TEMPFAIL, deferred.stderr
    assert deferred.stderr.decode().startswith("4.3.0")
    assert b"Traceback" not in deferred.stderr
    assert rows(db) == []  # nothing half-written
    retried = readmail(env, raw)  # the MTA's retry, once the database is back
    assert retried.returncode == EX_OK, retried.stderr
    assert rows(db) == [("<fault-pipe-locked@example.org>", "processed")]


def test_readmail_defers_while_the_database_is_gone_then_delivers(tmp_path):
    env = environment(tmp_path / "not-yet" / "db.sqlite3")  # the directory does not exist
    raw = MESSAGE % b"pipe-gone"
    deferred = readmail(env, raw)
    assert deferred.returncode == EX_TEMPFAIL, deferred.stderr
    assert len(deferred.stderr.decode().strip().splitlines()) == 1
    assert b"Traceback" not in deferred.stderr
    (tmp_path / "not-yet").mkdir()
    migrate(env)
    retried = readmail(env, raw)
    assert retried.returncode == EX_OK, retried.stderr
    assert rows(env["MAILSERVER_TEST_DB"]) == [("<fault-pipe-gone@example.org>", "processed")]


# runmailserver ---------------------------------------------------------------------------


@pytest.fixture
def mailserver(env):
    process, port = start_command(env)
    yield port
    process.terminate()
    try:
        process.communicate(timeout=20)
    finally:
        process.kill()


def send(port: int, raw: bytes) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("faults.example.org")
        client.mail("alice@example.org")
        client.rcpt("accept@example.com")
        return client.data(raw)


def settles(condition, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_runmailserver_answers_451_while_the_database_is_locked(env, mailserver):
    db = env["MAILSERVER_TEST_DB"]
    raw = MESSAGE % b"smtp-locked"
    with locked(db):
        code, text = send(mailserver, raw)
    assert (code, text) == (451, b"4.3.0 Temporary failure, try again later")
    assert rows(db) == []
    # The sending MTA retries the same message; now it is stored and handled once.
    assert send(mailserver, raw)[0] == 250
    assert send(mailserver, raw)[0] == 250  # a duplicate retry is answered, not re-handled
    # Results of successful deliveries are recorded just after the 250 (group commit).
    assert settles(lambda: {status for _, status in rows(db)} == {"processed"})
    assert rows(db)[0] == ("<fault-smtp-locked@example.org>", "processed")


def test_runmailserver_keeps_serving_after_the_database_comes_back(env, mailserver):
    db = env["MAILSERVER_TEST_DB"]
    with locked(db):
        assert send(mailserver, MESSAGE % b"a")[0] == 451
    replies = [send(mailserver, MESSAGE % str(i).encode())[0] for i in range(5)]
    assert replies == [250] * 5
    assert len(rows(db)) == 5
