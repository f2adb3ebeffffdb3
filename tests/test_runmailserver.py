"""``runmailserver`` over SMTP, with Python's smtplib as the client."""

import asyncio
import os
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mailserver.ingress.server import MailServer
from mailserver.models.inbound import InboundMessage
from tests.ingress_fixtures import message

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent


def send(server, recipients, raw=None, sender="alice@example.org"):
    """Send one message; return the RCPT replies and the DATA reply as (code, text)."""
    with server.client() as client:
        client.ehlo("client.example.org")
        client.mail(sender)
        rcpt = [client.rcpt(r) for r in recipients]
        if not any(code == 250 for code, _ in rcpt):
            return rcpt, None
        data = client.data(raw or message())
    return rcpt, data


def reply(code_text):
    code, text = code_text
    return f"{code} {text.decode()}"


def test_ehlo_advertises_size_8bitmime_and_smtputf8(start_server):
    server = start_server(max_message_size=1000)
    with server.client() as client:
        client.ehlo("client.example.org")
        assert client.esmtp_features["size"] == "1000"
        assert "8bitmime" in client.esmtp_features
        assert "smtputf8" in client.esmtp_features


@pytest.mark.parametrize(
    ("recipient", "rcpt_reply"),
    [
        ("accept@example.com", "250 2.1.5 Recipient ok"),
        ("ACCEPT@Example.COM", "250 2.1.5 Recipient ok"),
        ("nobody@example.com", "550 5.1.1 No such mailbox"),
        ("someone@elsewhere.example", "550 5.1.1 No such mailbox"),
    ],
)
def test_recipients_are_resolved_at_rcpt_time(start_server, recipient, rcpt_reply):
    """Unknown recipients are refused before any body: never an open relay."""
    server = start_server()
    [rcpt], _ = send(server, [recipient])
    assert reply(rcpt) == rcpt_reply


@pytest.mark.parametrize(
    ("recipient", "data_reply", "status"),
    [
        ("accept@example.com", "250 2.0.0 Message accepted", "processed"),
        ("async@example.com", "250 2.0.0 Message accepted", "processed"),
        ("reject@example.com", "550 5.7.1 Not here", "rejected"),
        ("tempfail@example.com", "452 4.2.2 Mailbox busy", "failed"),
        ("flaky@example.com", "451 4.3.0 Temporary failure, try again later", "failed"),
    ],
)
def test_data_reply_comes_from_the_outcome_table(start_server, recipient, data_reply, status):
    from tests.mailconfs import inbound

    inbound.failing.add("flaky@example.com")
    server = start_server()
    _, data = send(server, [recipient])
    assert reply(data) == data_reply
    assert "secret" not in reply(data)
    server.flush()
    assert InboundMessage.objects.get().status == status


def test_message_is_stored_before_the_view_and_before_250(start_server, inbound_mailconf):
    server = start_server()
    _, data = send(server, ["stored@example.com"])
    assert data[0] == 250
    assert inbound_mailconf.stored_while_handling == [("received", True)]
    server.flush()
    row = InboundMessage.objects.get()
    assert (row.transport, row.peer, row.helo, row.sender) == (
        "smtp",
        "127.0.0.1",
        "client.example.org",
        "alice@example.org",
    )


def test_null_sender_is_stored_as_empty(start_server):
    server = start_server()
    _, data = send(server, ["accept@example.com"], sender="<>")
    assert data[0] == 250
    server.flush()
    assert InboundMessage.objects.get().sender == ""


@pytest.mark.parametrize(
    ("recipients", "data_reply"),
    [
        (["accept@example.com", "other@example.com"], 250),
        # Any temporary failure makes the whole message 451; see test_retry_after_451.
        (["accept@example.com", "flaky@example.com"], 451),
        (["accept@example.com", "tempfail@example.com"], 452),
        # Otherwise a permanent refusal wins, so the sender hears of it.
        (["accept@example.com", "reject@example.com"], 550),
    ],
)
def test_one_reply_for_several_recipients(start_server, inbound_mailconf, recipients, data_reply):
    inbound_mailconf.failing.add("flaky@example.com")
    server = start_server()
    _, data = send(server, recipients)
    assert data[0] == data_reply


def test_retry_after_451_does_not_repeat_served_recipients(start_server, inbound_mailconf):
    inbound_mailconf.failing.add("flaky@example.com")
    server = start_server()
    recipients = ["accept@example.com", "flaky@example.com"]
    assert send(server, recipients)[1][0] == 451
    inbound_mailconf.failing.clear()
    assert send(server, recipients)[1][0] == 250
    assert inbound_mailconf.calls == {"accept@example.com": 1, "flaky@example.com": 2}
    server.flush()
    assert set(InboundMessage.objects.values_list("status", flat=True)) == {"processed"}


def test_handler_exception_answers_451_and_leaks_nothing(start_server):
    server = start_server()

    def broken_reply(results):
        raise RuntimeError("secret database password")

    server.server.handler.reply = broken_reply
    _, data = send(server, ["accept@example.com"])
    assert reply(data) == "451 4.3.0 Temporary failure, try again later"


# Limits against abuse -------------------------------------------------------------


def test_max_recipients(start_server):
    server = start_server(max_recipients=2)
    rcpt, data = send(server, ["accept@example.com", "other@example.com", "async@example.com"])
    assert [code for code, _ in rcpt] == [250, 250, 452]
    assert data[0] == 250


def test_max_message_size(start_server):
    server = start_server(max_message_size=100)
    _, data = send(server, ["accept@example.com"], raw=message() + b"x" * 200)
    assert data[0] == 552
    assert not InboundMessage.objects.exists()


def test_max_line_length(start_server):
    server = start_server(max_line_length=200)
    _, data = send(server, ["accept@example.com"], raw=message() + b"y" * 300 + b"\r\n")
    assert data[0] == 500
    assert b"Line too long" in data[1]


def test_max_sessions(start_server):
    server = start_server(max_sessions=1)
    with server.client() as first:
        first.ehlo()
        with pytest.raises(smtplib.SMTPConnectError) as refused:
            server.client()
        assert refused.value.smtp_code == 421
    time.sleep(0.1)
    with server.client() as again:
        assert again.noop()[0] == 250


def test_max_commands(start_server):
    server = start_server(max_commands=3)
    with server.client() as client:
        assert [client.noop()[0] for _ in range(4)] == [250, 250, 250, 421]


def test_idle_timeout(start_server):
    server = start_server(idle_timeout=0.3)
    client = server.client()
    time.sleep(0.6)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.noop()


def test_a_slow_view_does_not_stall_other_sessions(start_server):
    server = start_server()
    slow = threading.Thread(target=send, args=(server, ["slow@example.com"], message("slow")))
    slow.start()
    time.sleep(0.1)
    started = time.monotonic()
    _, data = send(server, ["accept@example.com"])
    elapsed = time.monotonic() - started
    slow.join()
    assert data[0] == 250
    assert elapsed < 0.8


# TLS ----------------------------------------------------------------------------


def tls_context(cert, key):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def test_starttls(start_server, tls_files):
    server = start_server(tls_context=tls_context(*tls_files))
    with server.client() as client:
        client.starttls(context=ssl.create_default_context(cafile=str(tls_files[0])))
        client.ehlo()
        client.mail("alice@example.org")
        client.rcpt("accept@example.com")
        assert client.data(message())[0] == 250


def test_require_tls_refuses_mail_before_starttls(start_server, tls_files):
    server = start_server(tls_context=tls_context(*tls_files), require_tls=True)
    with server.client() as client:
        client.ehlo()
        assert client.mail("alice@example.org")[0] == 530
        client.starttls(context=ssl.create_default_context(cafile=str(tls_files[0])))
        client.ehlo()
        assert client.mail("alice@example.org")[0] == 250


def test_no_auth_is_offered_unless_asked_for(start_server, tls_files):
    server = start_server(tls_context=tls_context(*tls_files))
    with server.client() as client:
        client.starttls(context=ssl.create_default_context(cafile=str(tls_files[0])))
        client.ehlo()
        assert "auth" not in client.esmtp_features


@pytest.mark.parametrize(
    ("password", "login_ok"),
    [("right horse battery", True), ("wrong", False)],
)
def test_auth_against_django_users(start_server, tls_files, password, login_ok):
    from django.contrib.auth.models import User

    User.objects.create_user("submitter", password="right horse battery")
    server = start_server(tls_context=tls_context(*tls_files), auth=True)
    with server.client() as client:
        client.ehlo()
        assert "auth" not in client.esmtp_features  # never over a plain connection
        assert client.mail("alice@example.org")[0] == 530
        client.starttls(context=ssl.create_default_context(cafile=str(tls_files[0])))
        client.ehlo()
        assert client.esmtp_features["auth"].split() == ["LOGIN", "PLAIN"]
        if not login_ok:
            with pytest.raises(smtplib.SMTPAuthenticationError):
                client.login("submitter", password)
            return
        client.login("submitter", password)
        client.mail("alice@example.org")
        client.rcpt("accept@example.com")
        assert client.data(message())[0] == 250


def test_require_tls_without_a_certificate_is_an_error():
    with pytest.raises(ValueError, match="tls_context"):
        MailServer(require_tls=True)


# The command, in a real subprocess ------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def command_env(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "MAILSERVER_TEST_DB": str(tmp_path / "db.sqlite3"),
    }
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--run-syncdb", "-v0"], env=env, check=True
    )
    return env


def start_command(env, *args):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "django", "runmailserver", f"127.0.0.1:{port}", *args],
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    assert "Receiving" in line, process.stderr.read()
    return process, port


def test_sigterm_drains_in_flight_sessions(command_env):
    env = {**command_env, "DJANGO_SETTINGS_MODULE": "tests.settings_inbound"}
    process, port = start_command(env, "--verbosity", "2")
    try:
        replies = {}
        client = smtplib.SMTP("127.0.0.1", port, timeout=20)
        client.ehlo("drain.example.org")
        client.mail("alice@example.org")
        client.rcpt("slow@example.com")

        def deliver():
            replies["data"] = client.data(message("drain"))

        sender = threading.Thread(target=deliver)
        sender.start()
        time.sleep(0.5)  # the slow view (1 s) is running now
        process.send_signal(signal.SIGTERM)
        sender.join(20)
        client.close()
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert replies["data"][0] == 250
    assert process.returncode == 0, err
    # --verbosity 2: one line for the session, with its envelope and outcome.
    [session_line] = [line for line in out.splitlines() if "helo=drain.example.org" in line]
    assert "from=<alice@example.org> to=<slow@example.com> 250 2.0.0" in session_line


def test_command_refuses_half_a_tls_configuration(command_env):
    result = subprocess.run(
        [sys.executable, "-m", "django", "runmailserver", "--tls-cert", "x.pem"],
        env=command_env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "--tls-cert and --tls-key go together" in result.stderr


# The group-commit writer ------------------------------------------------------------


def test_writer_keeps_a_bad_row_from_sinking_its_batch():
    """One row that cannot be stored fails alone; its neighbours in the batch are kept."""
    from django.db import IntegrityError

    from mailserver.ingress.writer import InboundWriter

    def row(raw):
        return InboundMessage(raw=raw, content_hash="h", transport="smtp", recipients=[])

    async def store_two():
        writer = InboundWriter(asyncio.get_running_loop())
        stores = [writer.store(row(b"fine")), writer.store(row(None))]
        writer.start()  # both are queued: they go into one transaction first
        results = await asyncio.gather(*stores, return_exceptions=True)
        await asyncio.get_running_loop().run_in_executor(None, writer.stop)
        return results

    (stored, done), failure = asyncio.run(store_two())
    assert isinstance(failure, IntegrityError)
    assert (stored.pk, done) == (InboundMessage.objects.get().pk, set())
