"""The example help desk (manage_example/): its own tests, and a real SMTP round trip.

The project has its own settings, so it runs in subprocesses: ``manage.py test
helpdesk``, then ``runmailserver`` receiving with ``smtplib`` and
``sendmailqueue`` delivering the reply to an SMTP sink, as a user would.
"""

import os
import re
import smtplib
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest

from mailserver.test.smtpsink import SMTPSink

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "manage_example"


@pytest.fixture
def example_env(tmp_path):
    """Environment for the example project with its database and media in ``tmp_path``."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(EXAMPLE), str(ROOT)]),
        "DJANGO_SETTINGS_MODULE": "example.settings",
        "EXAMPLE_DB": str(tmp_path / "db.sqlite3"),
        "EXAMPLE_MEDIA_ROOT": str(tmp_path / "media"),
    }
    env.pop("MAILSERVER_TEST_DB", None)
    return env


def manage(env, *args, timeout=120):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_example_projects_own_tests_pass(example_env):
    proc = manage(example_env, "test", "helpdesk", "--noinput", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"Ran \d+ tests", proc.stderr)


def test_mail_to_help_over_smtp_opens_a_ticket_and_the_reply_is_delivered(example_env):
    migrated = manage(example_env, "migrate", "--run-syncdb", "--noinput", "-v0")
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runmailserver", f"127.0.0.1:{port}"],
        cwd=EXAMPLE,
        env=example_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "Receiving SMTP" in server.stdout.readline()
        mail = EmailMessage()
        mail["From"] = "alice@example.org"
        mail["To"] = "help@example.com"
        mail["Subject"] = "My printer is on fire"
        mail.set_content("It was working yesterday.")
        mail.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="a.pdf")
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            smtp.send_message(mail)
            # An address nothing routes is refused at RCPT time: no open relay.
            code, _ = smtp.docmd("MAIL FROM:<alice@example.org>")
            assert code == 250
            code, reply = smtp.docmd("RCPT TO:<ticket-1@example.com>")
            assert (code, reply[:5]) == (550, b"5.1.1")
    finally:
        server.terminate()
        server.communicate(timeout=30)  # waits, and closes the pipes

    with closing(sqlite3.connect(example_env["EXAMPLE_DB"])) as db:
        [(ticket_id, subject)] = db.execute("SELECT id, subject FROM helpdesk_ticket").fetchall()
        [(filename,)] = db.execute("SELECT filename FROM helpdesk_attachment").fetchall()
    assert (subject, filename) == ("My printer is on fire", "a.pdf")

    with SMTPSink() as sink:
        example_env["EXAMPLE_SMTP_PORT"] = str(sink.port)
        sent = manage(example_env, "sendmailqueue")
        deadline = time.monotonic() + 10
        while not sink.messages and time.monotonic() < deadline:
            time.sleep(0.05)
    assert sent.returncode == 0, sent.stderr
    [delivered] = sink.messages
    assert delivered.rcpt_tos == ["alice@example.org"]
    reply = message_from_bytes(delivered.data, policy=default_policy)
    assert reply["Subject"] == f"[#{ticket_id}] My printer is on fire"
    assert re.fullmatch(r"ticket-[0-9a-z]+@example\.com", reply["Reply-To"])
    assert f"ticket #{ticket_id}" in reply.get_content()
