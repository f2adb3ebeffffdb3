"""``manage.py fetchmail``: mail from IMAP, POP3, Maildir and mbox, never lost, never twice.

The IMAP and POP3 tests run against a real Dovecot (tests/imap_fixtures.py).
"""

import hashlib
import json
import mailbox
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.core.management import CommandError, call_command
from django.test import override_settings

from mailserver.exceptions import MailServerConfigurationError
from mailserver.ingress.mailboxes.config import MailboxConfig, parse_mailbox
from mailserver.ingress.mailboxes.fetch import envelope_for
from mailserver.ingress.mailboxes.imap import ImapSource
from mailserver.ingress.mailboxes.pop3 import Pop3Source
from mailserver.models import FetchedMessage, InboundMessage
from tests.mailconfs import fetch as mailconf

pytest_plugins = ["tests.imap_fixtures"]  # the Dovecot fixtures: dovecot, mail_user

ROOT = Path(__file__).resolve().parent.parent
FILES = Path(__file__).resolve().parent / "files"


def message(n: int = 1, to: str = "support@example.com", delivered_to: str | None = None):
    delivered = f"Delivered-To: {delivered_to}\r\n" if delivered_to else ""
    return (
        f"Return-Path: <alice@example.org>\r\n{delivered}"
        f"From: Alice <alice@example.org>\r\nTo: {to}\r\nSubject: Message {n}\r\n"
        f"Message-ID: <fetch-{n}-{time.monotonic_ns()}@example.org>\r\n\r\nBody {n}\r\n"
    ).encode()


@pytest.fixture(autouse=True)
def fetch_mailconf():
    mailconf.calls.clear()
    with override_settings(ROOT_MAILCONF="tests.mailconfs.fetch"):
        yield mailconf


def fetchmail(mailboxes: dict, *args: str) -> str:
    from io import StringIO

    out = StringIO()
    with override_settings(MAILSERVER_MAILBOXES=mailboxes):
        call_command("fetchmail", *args, stdout=out)
    return out.getvalue()


# --- IMAP ---------------------------------------------------------------------------

pytestmark = pytest.mark.django_db


@pytest.mark.imap
def test_imap_fetch_stores_then_deletes(mail_user):
    for n in range(3):
        mail_user.deliver(message(n))
    out = fetchmail({"support": mail_user.mailbox()}, "support")
    assert "support: 3 stored" in out
    rows = InboundMessage.objects.order_by("pk")
    assert [row.transport for row in rows] == ["imap"] * 3
    assert [row.status for row in rows] == ["processed"] * 3
    assert [row.sender for row in rows] == ["alice@example.org"] * 3
    assert mailconf.calls == ["support@example.com"] * 3
    assert mail_user.count() == 0
    fetched = FetchedMessage.objects.order_by("pk")
    assert [f.inbound_id for f in fetched] == [row.pk for row in rows]
    assert {f.uidvalidity for f in fetched} != {0}


@pytest.mark.imap
def test_imap_move_to_archive(mail_user):
    for n in range(3):
        mail_user.deliver(message(n))
    fetchmail({"support": mail_user.mailbox(ACTION="move", MOVE_TO="Archive")}, "support")
    assert InboundMessage.objects.count() == 3
    assert (mail_user.count(), mail_user.count("Archive")) == (0, 3)


@pytest.mark.imap
def test_imap_keep_flags_seen_and_does_not_fetch_again(mail_user):
    for n in range(2):
        mail_user.deliver(message(n))
    mailboxes = {"support": mail_user.mailbox(ACTION="keep")}
    fetchmail(mailboxes, "support")
    assert mail_user.count() == 2
    assert all("S" in flags for flags in mail_user.flags())
    # Stored and flagged already: nothing to do, nothing to report.
    assert fetchmail(mailboxes, "support") == "support: 0 stored.\n"
    assert InboundMessage.objects.count() == 2
    assert len(mailconf.calls) == 2


@pytest.mark.imap
def test_imap_unseen_only(mail_user):
    mail_user.deliver(message(1), flags="S")
    mail_user.deliver(message(2))
    fetchmail({"support": mail_user.mailbox(ACTION="keep", UNSEEN_ONLY=True)}, "support")
    assert list(InboundMessage.objects.values_list("subject", flat=True)) == ["Message 2"]


@pytest.mark.imap
def test_imap_recipient_from_delivered_to_or_fixed(mail_user):
    mail_user.deliver(message(1, to="list@example.net", delivered_to="ticket-7@example.com"))
    mail_user.deliver(message(2, to="someone@example.net"))
    fetchmail({"a": mail_user.mailbox(RECIPIENT="support@example.com")}, "a")
    # The fixed address wins over the headers.
    assert mailconf.calls == ["support@example.com"] * 2
    mail_user.deliver(message(3, to="list@example.net", delivered_to="ticket-7@example.com"))
    fetchmail({"a": mail_user.mailbox()}, "a")
    assert mailconf.calls[-1] == "ticket-7@example.com"
    assert InboundMessage.objects.get(subject="Message 3").route_name == "ticket"


@pytest.mark.imap
def test_imap_crash_between_store_and_delete_does_not_process_twice(mail_user, monkeypatch):
    mail_user.deliver(message(1))

    def crash(self, items):
        raise KeyboardInterrupt  # the process dies after the commit, before the delete

    with monkeypatch.context() as patch:
        patch.setattr(ImapSource, "finish", crash)
        with pytest.raises(KeyboardInterrupt):
            fetchmail({"support": mail_user.mailbox()}, "support")
    assert mail_user.count() == 1
    assert InboundMessage.objects.count() == 1

    out = fetchmail({"support": mail_user.mailbox()}, "support")
    assert "0 stored, 1 already stored" in out
    assert mail_user.count() == 0
    assert InboundMessage.objects.count() == 1
    assert mailconf.calls == ["support@example.com"]


@pytest.mark.imap
def test_storage_failure_leaves_the_message_on_the_server(mail_user, monkeypatch):
    mail_user.deliver(message(1))

    def broken_store(*args, **kwargs):
        raise RuntimeError("database is down")

    monkeypatch.setattr("mailserver.ingress.store.store", broken_store)
    with pytest.raises(CommandError, match="could not be stored") as error:
        fetchmail({"support": mail_user.mailbox()}, "support")
    assert error.value.returncode == 75
    assert mail_user.count() == 1
    assert not any("T" in flags for flags in mail_user.flags())
    assert not FetchedMessage.objects.exists()


@pytest.mark.imap
def test_failing_view_is_stored_failed_and_not_fetched_again(mail_user):
    mail_user.deliver(message(1, delivered_to="broken@example.com"))
    mailboxes = {"support": mail_user.mailbox()}
    out = fetchmail(mailboxes, "support")
    assert "1 failed, retry with retrymail" in out
    row = InboundMessage.objects.get()
    assert row.status == InboundMessage.Status.FAILED
    assert "the view failed" in row.error
    assert mail_user.count() == 0
    fetchmail(mailboxes, "support")
    assert InboundMessage.objects.count() == 1


@pytest.mark.imap
@pytest.mark.parametrize(
    "raw",
    [
        pytest.param((FILES / "flanker_fails.eml").read_bytes(), id="flanker-fails"),
        # No NUL: IMAP cannot carry one (Dovecot sends 0x80 instead).
        pytest.param(b"\xff\xfe\r\n\x8f garbage \xc3\x28 without headers\r\n", id="garbage"),
    ],
)
def test_unreadable_message_is_stored_not_lost(mail_user, raw):
    mail_user.deliver(raw)
    fetchmail({"support": mail_user.mailbox(RECIPIENT="support@example.com")}, "support")
    row = InboundMessage.objects.get()
    assert bytes(row.raw).replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
    assert mail_user.count() == 0


@pytest.mark.imap
def test_message_without_recipient_stays_on_the_server(mail_user):
    mail_user.deliver(b"Subject: nobody to route to\r\n\r\nNo To, no Delivered-To.\r\n")
    mailboxes = {"support": mail_user.mailbox()}
    assert "1 refused and left on the server" in fetchmail(mailboxes, "support")
    assert mail_user.count() == 1
    assert FetchedMessage.objects.get().status == FetchedMessage.Status.REFUSED
    # Not fetched again on every pass.
    assert "0 stored." in fetchmail(mailboxes, "support")


@pytest.mark.imap
def test_wrong_password_is_a_clear_error(mail_user):
    mailboxes = {"support": {**mail_user.mailbox(), "PASSWORD": "wrong"}}
    started = time.monotonic()
    with pytest.raises(CommandError, match=r"refused the login.*PASSWORD") as error:
        fetchmail(mailboxes, "support")
    assert time.monotonic() - started < 5
    assert error.value.returncode == 1
    assert "wrong" not in str(error.value)


@pytest.mark.imap
@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"scheme": "imaps"}, id="imaps"),
        pytest.param({"scheme": "imap", "STARTTLS": True}, id="imap-starttls"),
        pytest.param({"scheme": "pop3s"}, id="pop3s"),
        pytest.param({"scheme": "pop3", "STARTTLS": True}, id="pop3-stls"),
    ],
)
def test_tls_with_the_servers_certificate(mail_user, dovecot, options):
    options = dict(options)
    scheme = options.pop("scheme")
    mail_user.deliver(message(1))
    mailbox = mail_user.mailbox(scheme, CAFILE=dovecot.cert, **options)
    fetchmail({"tls": mailbox}, "tls")
    assert InboundMessage.objects.count() == 1
    assert mail_user.count() == 0


@pytest.mark.imap
def test_tls_certificate_is_verified(mail_user):
    mail_user.deliver(message(1))
    with pytest.raises(CommandError, match="CERTIFICATE_VERIFY_FAILED") as error:
        fetchmail({"tls": mail_user.mailbox("imaps")}, "tls")
    assert error.value.returncode == 75
    assert mail_user.count() == 1


# --- POP3 ---------------------------------------------------------------------------


@pytest.mark.imap
def test_pop3_fetch_stores_then_deletes(mail_user):
    for n in range(3):
        mail_user.deliver(message(n))
    fetchmail({"pop": mail_user.mailbox("pop3")}, "pop")
    rows = InboundMessage.objects.all()
    assert [row.transport for row in rows] == ["pop3"] * 3
    assert mail_user.count() == 0
    assert FetchedMessage.objects.filter(uidvalidity=0, folder="").count() == 3


@pytest.mark.imap
def test_pop3_keep_uses_uidl_to_skip_known_messages(mail_user):
    mail_user.deliver(message(1))
    mailboxes = {"pop": mail_user.mailbox("pop3", ACTION="keep")}
    fetchmail(mailboxes, "pop")
    mail_user.deliver(message(2))
    fetchmail(mailboxes, "pop")
    assert mail_user.count() == 2
    assert InboundMessage.objects.count() == 2
    assert len(mailconf.calls) == 2


@pytest.mark.imap
def test_pop3_dropped_connection_then_uidl_dedupe(mail_user, monkeypatch):
    for n in range(2):
        mail_user.deliver(message(n))

    def drop(self):
        self.connection.sock.close()  # no QUIT: the server forgets the DELEs

    with monkeypatch.context() as patch:
        patch.setattr(Pop3Source, "close", drop)
        fetchmail({"pop": mail_user.mailbox("pop3")}, "pop")
    assert mail_user.count() == 2
    assert InboundMessage.objects.count() == 2

    out = fetchmail({"pop": mail_user.mailbox("pop3")}, "pop")
    assert "0 stored, 2 already stored" in out
    assert mail_user.count() == 0
    assert InboundMessage.objects.count() == 2
    assert len(mailconf.calls) == 2


@pytest.mark.imap
def test_pop3_wrong_password(mail_user):
    with pytest.raises(CommandError, match="refused the login"):
        fetchmail({"pop": {**mail_user.mailbox("pop3"), "PASSWORD": "nope"}}, "pop")


# --- Maildir and mbox ---------------------------------------------------------------


@pytest.fixture
def maildir(tmp_path):
    box = mailbox.Maildir(tmp_path / "Maildir")
    return box


@pytest.mark.parametrize(
    ("options", "left_in_inbox", "archived"),
    [({}, 0, 0), ({"ACTION": "move", "MOVE_TO": "Archive"}, 0, 2), ({"ACTION": "keep"}, 2, 0)],
)
def test_maildir(maildir, options, left_in_inbox, archived):
    for n in range(2):
        maildir.add(message(n))
    mailboxes = {"local": {"URL": f"maildir://{maildir._path}", **options}}
    fetchmail(mailboxes, "local")
    fetchmail(mailboxes, "local")  # a second pass finds nothing new
    assert [row.transport for row in InboundMessage.objects.all()] == ["maildir"] * 2
    maildir = mailbox.Maildir(maildir._path)
    assert len(maildir) == left_in_inbox
    if archived:
        assert len(maildir.get_folder("Archive")) == archived
    if options.get("ACTION") == "keep":
        assert all("S" in m.get_flags() for m in maildir)


@pytest.mark.parametrize(("action", "left"), [("delete", 0), ("keep", 2)])
def test_mbox(tmp_path, action, left):
    path = tmp_path / "support.mbox"
    box = mailbox.mbox(path)
    for n in range(2):
        box.add(message(n))
    box.close()
    mailboxes = {"local": {"URL": f"mbox://{path}", "ACTION": action}}
    fetchmail(mailboxes, "local")
    fetchmail(mailboxes, "local")
    assert [row.transport for row in InboundMessage.objects.all()] == ["mbox"] * 2
    assert len(mailconf.calls) == 2
    box = mailbox.mbox(path)
    assert len(box) == left
    box.close()


def maildir_row(maildir, key, **fields) -> FetchedMessage:
    """The row a fetcher killed mid-message would have left for ``key``."""
    raw = maildir.get_bytes(key)
    return FetchedMessage.objects.create(
        mailbox="local",
        uid=key,
        status=FetchedMessage.Status.FETCHING,
        content_hash=hashlib.sha256(raw).hexdigest(),
        **fields,
    )


def test_fetching_row_without_stored_message_is_fetched_again(maildir):
    """Killed before the store committed: the message was never handled."""
    key = maildir.add(message(1))
    maildir_row(maildir, key)
    out = fetchmail({"local": {"URL": f"maildir://{maildir._path}"}}, "local")
    assert "1 stored" in out
    assert mailconf.calls == ["support@example.com"]
    assert FetchedMessage.objects.get().status == FetchedMessage.Status.STORED
    assert len(mailbox.Maildir(maildir._path)) == 0


def test_fetching_row_with_stored_message_is_only_removed(maildir, caplog):
    """Killed inside the view: stored, so not handled again; retrymail can finish it."""
    key = maildir.add(message(1))
    row = maildir_row(maildir, key)
    inbound = InboundMessage.objects.create(
        raw=maildir.get_bytes(key), content_hash=row.content_hash, transport="maildir"
    )
    out = fetchmail({"local": {"URL": f"maildir://{maildir._path}"}}, "local")
    assert "0 stored, 1 already stored" in out
    assert mailconf.calls == []
    assert FetchedMessage.objects.get().inbound == inbound
    assert len(mailbox.Maildir(maildir._path)) == 0
    assert f"retrymail --id {inbound.pk}" in caplog.text


@pytest.mark.parametrize(
    ("recipient", "removed", "rows"),
    [
        ("support@example.com", True, ["stored"]),
        ("broken@example.com", False, []),  # temporary: fetched again next time
        ("nobody@example.com", False, ["refused"]),
    ],
)
def test_without_the_inbound_store_only_accepted_mail_leaves(maildir, recipient, removed, rows):
    maildir.add(message(1, delivered_to=recipient))
    with override_settings(MAILSERVER_STORE_INBOUND=False):
        fetchmail({"local": {"URL": f"maildir://{maildir._path}"}}, "local")
    assert not InboundMessage.objects.exists()
    assert len(mailbox.Maildir(maildir._path)) == (0 if removed else 1)
    assert list(FetchedMessage.objects.values_list("status", flat=True)) == rows


@pytest.mark.imap
@override_settings(MAILSERVER_MAX_MESSAGE_SIZE=1000)
def test_too_large_message_is_not_downloaded_and_stays(mail_user):
    mail_user.deliver(message(1) + b"x" * 2000 + b"\r\n")
    mail_user.deliver(message(2))
    out = fetchmail({"support": mail_user.mailbox()}, "support")
    assert "1 stored, 1 refused and left on the server" in out
    assert mail_user.count() == 1
    assert FetchedMessage.objects.get(status="refused").reason == "too large"


# --- The envelope and the settings --------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "options", "recipients", "sender"),
    [
        ("Delivered-To: a@example.com\n", {}, ["a@example.com"], None),
        # The address before alias expansion routes a catch-all's mail.
        (
            "Delivered-To: all@example.com\nX-Original-To: ticket-5@example.com\n",
            {},
            ["ticket-5@example.com"],
            None,
        ),
        # The topmost Delivered-To is the last hop's.
        (
            "Delivered-To: b@example.com\nDelivered-To: a@example.com\n",
            {},
            ["b@example.com"],
            None,
        ),
        ("Delivered-To: a@example.com\n", {"RECIPIENT": "x@example.com"}, ["x@example.com"], None),
        ("Return-Path: <>\n", {}, [], ""),
        ("Return-Path: <Bob@Example.org>\n", {}, [], "Bob@Example.org"),
    ],
)
def test_envelope_from_headers(headers, options, recipients, sender):
    config = parse_mailbox("m", {"URL": "maildir:///tmp/x", **options})
    envelope = envelope_for(f"{headers}To: to@example.com\n\nbody\n".encode(), config)
    assert (envelope.recipients, envelope.sender, envelope.transport) == (
        recipients,
        sender,
        "maildir",
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "imaps://support%40example.com:p%40ss@imap.example.com/INBOX",
            dict(scheme="imaps", host="imap.example.com", port=993, user="support@example.com",
                 password="p@ss", folder="INBOX"),
        ),
        ("imap://u:p@127.0.0.1:1143/Lists/django", dict(port=1143, folder="Lists/django")),
        ("pop3://u:p@pop.example.com", dict(port=110, protocol="pop3")),
        ("pop3s://u:p@pop.example.com", dict(port=995, uses_tls=True)),
        ("maildir:///var/mail/support", dict(path="/var/mail/support", protocol="maildir")),
        ("mbox:///var/mail/support", dict(path="/var/mail/support", protocol="mbox")),
    ],
)  # fmt: skip
def test_url_parsing(url, expected):
    config = parse_mailbox("m", {"URL": url}, environ={})
    for name, value in expected.items():
        assert getattr(config, name) == value


def test_credentials_from_the_environment():
    options = {"URL": "imaps://imap.example.com", "USER": "me", "PASSWORD_ENV": "IMAP_PW"}
    config = parse_mailbox("m", options, environ={"IMAP_PW": "s3cret"})
    assert (config.user, config.password) == ("me", "s3cret")
    assert "s3cret" not in repr(config)
    with pytest.raises(MailServerConfigurationError, match=r"IMAP_PW.*is not set"):
        parse_mailbox("m", options, environ={})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("imaps://x", "must be a dict"),
        ({}, "'URL' is required"),
        ({"URL": "http://example.com"}, "scheme 'http' is not one of"),
        ({"URL": "imaps:///INBOX"}, "names no host"),
        ({"URL": "imaps://h", "ACTION": "archive"}, "'ACTION' must be one of"),
        ({"URL": "imaps://h", "ACTION": "move"}, "needs 'MOVE_TO'"),
        ({"URL": "pop3s://h", "ACTION": "move", "MOVE_TO": "A"}, "POP3 has no folders"),
        ({"URL": "imaps://h", "MOVE_TO": "A"}, "only used with 'ACTION': 'move'"),
        ({"URL": "imaps://h", "RECIPIENT": "nobody"}, "'RECIPIENT' must be an address"),
        ({"URL": "imaps://h", "TIMEOUT": 0}, "'TIMEOUT' must be a positive number"),
        ({"URL": "imaps://h", "PASSWORD_ENV": ""}, "must name an environment variable"),
        ({"URL": "imaps://h", "STARTTLS": True}, "imap:// and pop3:// URLs only"),
        ({"URL": "imaps://h", "PASWORD": "x"}, "unknown key"),
    ],
)
def test_system_check_reports_bad_mailboxes(options, message):
    with override_settings(MAILSERVER_MAILBOXES={"bad": options}):
        errors = [e for e in run_checks() if e.id == "mailserver.E051"]
    assert len(errors) == 1
    assert message in errors[0].msg


@pytest.mark.parametrize(
    ("options", "warned"),
    [
        ({"URL": "imap://u:p@imap.example.com"}, True),
        ({"URL": "imap://u:p@imap.example.com", "STARTTLS": True}, False),
        ({"URL": "imaps://u:p@imap.example.com"}, False),
        ({"URL": "pop3://u:p@127.0.0.1"}, False),
    ],
)
def test_system_check_warns_about_passwords_in_clear(options, warned):
    with override_settings(MAILSERVER_MAILBOXES={"m": options}):
        ids = [e.id for e in run_checks()]
    assert ("mailserver.W050" in ids) is warned
    assert "mailserver.E051" not in ids


def test_command_errors():
    with pytest.raises(CommandError, match="No mailbox named 'nope'"):
        fetchmail({"a": {"URL": "maildir:///tmp/x"}}, "nope")
    with pytest.raises(CommandError, match="Name a mailbox"):
        fetchmail({})
    with pytest.raises(CommandError, match="MAILSERVER_MAILBOXES is empty"):
        fetchmail({}, "--all")


def test_config_is_frozen():
    config = parse_mailbox("m", {"URL": "maildir:///tmp/x"})
    assert isinstance(config, MailboxConfig)
    assert config.location == "maildir:///tmp/x"


# --- Subprocesses: a killed process, --watch ----------------------------------------


@pytest.fixture
def subprocess_env(tmp_path):
    """Environment for ``manage.py`` subprocesses sharing a file database."""
    db = tmp_path / "db.sqlite3"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "tests.settings_fetchmail",
        "MAILSERVER_TEST_DB": str(db),
        "MAILSERVER_TEST_VIEW_LOG": str(tmp_path / "views.log"),
    }
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--run-syncdb", "-v0"], env=env, check=True
    )
    (tmp_path / "views.log").touch()
    return env


def with_mailboxes(env: dict, mailboxes: dict) -> dict:
    return {**env, "MAILSERVER_TEST_MAILBOXES": json.dumps(mailboxes)}


def rows(env: dict, sql: str) -> list[tuple]:
    with sqlite3.connect(env["MAILSERVER_TEST_DB"]) as db:
        return db.execute(sql).fetchall()


def view_runs(env: dict) -> list[str]:
    return Path(env["MAILSERVER_TEST_VIEW_LOG"]).read_text().splitlines()


def run_fetchmail(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "django", "fetchmail", *args],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.mark.imap
def test_killed_process_does_not_process_twice(mail_user, subprocess_env):
    env = with_mailboxes(subprocess_env, {"support": mail_user.mailbox()})
    mail_user.deliver(message(1, delivered_to="crash@example.com"))
    proc = run_fetchmail(env, "support")
    assert proc.returncode == -signal.SIGKILL  # killed inside the view
    assert mail_user.count() == 1
    assert rows(env, "SELECT count(*) FROM mailserver_fetchedmessage") == [(1,)]

    proc = run_fetchmail(env, "support")
    assert proc.returncode == 0, proc.stderr
    assert mail_user.count() == 0
    assert rows(env, "SELECT count(*) FROM mailserver_inboundmessage") == [(1,)]
    assert len(view_runs(env)) == 1


@pytest.mark.imap
def test_wrong_password_exits_non_zero(mail_user, subprocess_env):
    mailbox = {**mail_user.mailbox(), "PASSWORD_ENV": "TEST_IMAP_PASSWORD"}
    del mailbox["PASSWORD"]
    env = with_mailboxes(subprocess_env, {"support": mailbox})
    proc = run_fetchmail({**env, "TEST_IMAP_PASSWORD": "wrong"}, "support")
    assert proc.returncode == 1
    assert b"refused the login" in proc.stderr
    assert b"Traceback" not in proc.stderr
    proc = run_fetchmail({**env, "TEST_IMAP_PASSWORD": mail_user.password}, "--all")
    assert proc.returncode == 0, proc.stderr


class Watcher:
    """``fetchmail --watch`` in a subprocess, stopped by its pid."""

    def __init__(self, env: dict, *args: str) -> None:
        self.env = env
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "django", "fetchmail", "--watch", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def wait_for_rows(self, count: int, timeout: float = 10) -> float:
        """Seconds until the database holds ``count`` inbound messages."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if rows(self.env, "SELECT count(*) FROM mailserver_inboundmessage")[0][0] >= count:
                return time.monotonic() - started
            assert self.proc.poll() is None, self.proc.stderr.read().decode()
            time.sleep(0.05)
        raise AssertionError(f"no {count} inbound messages after {timeout} s")

    def stop(self, timeout: float = 10) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def watcher():
    started = []

    def start(env, *args):
        started.append(Watcher(env, *args))
        return started[-1]

    yield start
    for w in started:
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait()
        w.proc.stdout.close()
        w.proc.stderr.close()


@pytest.mark.imap
def test_watch_picks_up_new_mail_with_idle_and_reconnects(
    mail_user, dovecot, subprocess_env, watcher
):
    options = {"RECONNECT_DELAY": [0.2, 1]}
    env = with_mailboxes(subprocess_env, {"support": mail_user.mailbox(**options)})
    watch = watcher(env, "support")
    mail_user.deliver(message(1))  # waiting before the watcher started
    watch.wait_for_rows(1, timeout=15)
    time.sleep(0.5)  # let it enter IDLE

    mail_user.deliver(message(2))
    latency = watch.wait_for_rows(2)
    print(f"IDLE pickup latency: {latency:.2f} s")
    assert latency < 3

    dovecot.kick(mail_user.name)
    mail_user.deliver(message(3))
    watch.wait_for_rows(3)

    dovecot.restart()
    mail_user.deliver(message(4))
    watch.wait_for_rows(4, timeout=20)

    started = time.monotonic()
    assert watch.stop() == 0
    assert time.monotonic() - started < 5
    assert mail_user.count() == 0
    assert len(view_runs(env)) == 4


@pytest.mark.imap
def test_watch_reissues_idle(mail_user, subprocess_env, watcher):
    env = with_mailboxes(subprocess_env, {"support": mail_user.mailbox(IDLE_INTERVAL=1)})
    watch = watcher(env, "support")
    time.sleep(3)  # IDLE has been ended and issued again, twice or more
    mail_user.deliver(message(1))
    assert watch.wait_for_rows(1) < 3
    assert watch.stop() == 0


@pytest.mark.imap
def test_watch_polls_pop3(mail_user, subprocess_env, watcher):
    env = with_mailboxes(subprocess_env, {"pop": mail_user.mailbox("pop3", POLL_INTERVAL=0.5)})
    watch = watcher(env, "--all")
    mail_user.deliver(message(1))
    watch.wait_for_rows(1)
    mail_user.deliver(message(2))
    watch.wait_for_rows(2)
    assert watch.stop() == 0
    assert mail_user.count() == 0


@pytest.mark.imap
def test_watch_stops_on_wrong_password(mail_user, subprocess_env):
    env = with_mailboxes(subprocess_env, {"s": {**mail_user.mailbox(), "PASSWORD": "bad"}})
    proc = run_fetchmail(env, "s", "--watch")
    assert proc.returncode == 1
    assert b"refused the login" in proc.stderr


@pytest.mark.django_db
def test_fetched_messages_have_a_read_only_admin_page(admin_client):
    FetchedMessage.objects.create(mailbox="support", uid="17", status="stored")
    page = admin_client.get("/admin/mailserver/fetchedmessage/")
    assert page.status_code == 200
    assert b"support" in page.content
    row = FetchedMessage.objects.get()
    assert (
        admin_client.get(f"/admin/mailserver/fetchedmessage/{row.pk}/change/").status_code == 200
    )
    assert admin_client.get("/admin/mailserver/fetchedmessage/add/").status_code == 403
