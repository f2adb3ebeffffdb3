"""End to end with a real Postfix (../shared/mta): pipe to readmail, relay and LMTP to
runmailserver, and policy delegation to runpolicyserver.

Needs root, Postfix and swaks (``postfix-harness.sh install``). Skipped with a
reason elsewhere; in CI (env ``CI`` set) a missing Postfix is a failure.
"""

import os
import pwd
import re
import shutil
import smtplib
import socket
import sqlite3
import subprocess
import sys
import tempfile
import tomllib
import uuid
from pathlib import Path

import pytest

from tests.servers import ROOT, postfix_missing, require
from tests.servers import postfix_harness as harness

pytestmark = pytest.mark.mta

# pipe(8) runs commands as nobody, who cannot reach an interpreter under /root:
# the pipe tests get a venv built from Debian's python3 in a world-readable place.
VENV = Path("/tmp/mailserver-e2e-venv")
SETTINGS = "tests.settings_inbound"
SENDER = "sender@sink.test"


@pytest.fixture(scope="module", autouse=True)
def _requirements():
    require(postfix_missing())
    if not Path("/usr/bin/python3").exists():
        require("/usr/bin/python3 is needed for the pipe user's venv")


def pipe_python() -> Path:
    """A venv nobody can run, with the project's dependencies (the project is on PYTHONPATH)."""
    python = VENV / "bin" / "python"
    probe = ["runuser", "-u", "nobody", "--", str(python), "-c", "import django, flanker"]
    if python.exists() and subprocess.run(probe, capture_output=True, cwd="/tmp").returncode == 0:
        return python
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(VENV)], check=True)
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *dependencies], check=True, cwd="/tmp"
    )
    subprocess.run(probe, check=True, capture_output=True, cwd="/tmp")
    return python


@pytest.fixture(scope="module")
def workdir():
    # Not tmp_path: pytest's temp root is mode 0700, which the pipe user cannot enter.
    directory = Path(tempfile.mkdtemp(prefix="mailserver-e2e-", dir="/tmp"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def database(workdir):
    """An SQLite file the pipe user can write (the file and its directory, for the journal)."""
    nobody = pwd.getpwnam("nobody")
    db_dir = workdir / "db"
    db_dir.mkdir()
    db = db_dir / "db.sqlite3"
    env = django_env(db)
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--run-syncdb", "-v0"], env=env, check=True
    )
    for path in (db_dir, db):
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    return db


def django_env(db: Path) -> dict:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "MAILSERVER_TEST_DB": str(db),
    }


def rows(db: Path, recipient: str) -> list[tuple[str, str]]:
    """(status, transport) of the stored deliveries for ``recipient``."""
    with sqlite3.connect(db) as connection:
        return connection.execute(
            "SELECT status, transport FROM mailserver_inboundmessage "
            "WHERE recipients LIKE ? ORDER BY id",
            (f'%"{recipient}"%',),
        ).fetchall()


class Instance:
    """One private Postfix started by the harness."""

    def __init__(self, directory: Path, env: dict) -> None:
        self.dir = directory
        self.port = int(env["HARNESS_PORT"])
        self.log = Path(env["HARNESS_LOG"])

    def send(self, recipients, subject="e2e"):
        message_id = f"<{uuid.uuid4().hex}@sink.test>"
        raw = (
            f"From: {SENDER}\r\nTo: {', '.join(recipients)}\r\nSubject: {subject}\r\n"
            f"Message-ID: {message_id}\r\n\r\nHello from Postfix.\r\n"
        )
        with smtplib.SMTP("127.0.0.1", self.port, timeout=20) as client:
            return client.sendmail(SENDER, recipients, raw)

    def result(self, recipient: str, seconds: int = 40) -> str:
        """The log line with the delivery result for ``recipient``."""
        pattern = f"to=<{recipient}>.*status=(sent|bounced|deferred)"
        waited = harness("wait-log", self.dir, pattern, seconds, timeout=seconds + 30)
        assert waited.returncode == 0, f"no result for {recipient}:\n{self.log.read_text()}"
        return next(line for line in self.log.read_text().splitlines() if re.search(pattern, line))


@pytest.fixture(scope="module")
def start_postfix(workdir):
    started = []

    def start(name, *options) -> Instance:
        directory = workdir / f"postfix-{name}"
        output = harness("start", directory, "--port", "auto", *options)
        assert output.returncode == 0, output.stdout + output.stderr
        env = dict(line.split("=", 1) for line in output.stdout.splitlines() if "=" in line)
        started.append(directory)
        return Instance(directory, env)

    yield start
    for directory in started:
        harness("cleanup", directory)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def run_command(database):
    processes = []

    def run(*args) -> int:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "django", *args, f"127.0.0.1:{port}"],
            env={**django_env(database), "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        line = process.stdout.readline()
        assert "on 127.0.0.1" in line, process.stderr.read()
        return port

    yield run
    for process in processes:
        process.terminate()
        process.communicate(timeout=30)


def tag(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def readmail_command(database: Path) -> str:
    return (
        f"/usr/bin/env DJANGO_SETTINGS_MODULE={SETTINGS} PYTHONPATH={ROOT} "
        f"MAILSERVER_TEST_DB={database} {pipe_python()} -m django readmail "
        "--sender ${sender} --recipient ${recipient}"
    )


@pytest.fixture(scope="module")
def pipe(start_postfix, database, workdir):
    return start_postfix(
        "pipe",
        "--mode", "pipe",
        "--domain", "example.com",
        "--command", readmail_command(database),
        "--pipe-dir", workdir,
        "--pipe-maxproc", "1",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("prefix", "status", "dsn", "stored"),
    [
        ("accept", "sent", "2.0.0", "processed"),
        ("nobody", "bounced", "5.1.1", "rejected"),  # exit 67 EX_NOUSER
        ("reject", "bounced", "5.7.1", "rejected"),  # exit 69, stderr "5.7.1 ..."
        ("tempfail", "deferred", "4.2.2", "failed"),  # exit 75, stderr "4.2.2 ..."
        ("broken", "deferred", "4.3.0", "failed"),  # exit 75: the view raised
    ],
)
def test_postfix_pipe_to_readmail(pipe, database, prefix, status, dsn, stored):
    recipient = tag(prefix)
    pipe.send([recipient])
    line = pipe.result(recipient)
    assert f"dsn={dsn}, status={status}" in line
    assert "secret" not in line
    assert rows(database, recipient)[0] == (stored, "pipe")


@pytest.fixture(scope="module")
def relay(start_postfix, run_command):
    port = run_command("runmailserver")
    return start_postfix(
        "relay", "--mode", "relay", "--domain", "example.com", "--nexthop", f"127.0.0.1:{port}"
    )


@pytest.mark.parametrize(
    ("prefix", "status", "said"),
    [
        ("accept", "sent", "250 2.0.0 Message accepted"),
        ("nobody", "bounced", "550 5.1.1 No such mailbox (in reply to RCPT TO command)"),
        ("reject", "bounced", "550 5.7.1 Not here (in reply to end of DATA command)"),
        (
            "broken",
            "deferred",
            "451 4.3.0 Temporary failure, try again later (in reply to end of DATA command)",
        ),
    ],
)
def test_postfix_relays_to_runmailserver(relay, database, prefix, status, said):
    recipient = tag(prefix)
    relay.send([recipient])
    line = relay.result(recipient)
    assert f"status={status}" in line
    assert said in line
    if prefix != "nobody":  # refused at RCPT: never stored
        assert rows(database, recipient)[0][1] == "smtp"


@pytest.fixture(scope="module")
def lmtp(start_postfix, run_command):
    port = run_command("runmailserver", "--lmtp")
    return start_postfix(
        "lmtp", "--mode", "lmtp", "--domain", "example.com", "--nexthop", f"127.0.0.1:{port}"
    )


def test_postfix_lmtp_gets_one_reply_per_recipient(lmtp, database):
    recipients = {prefix: tag(prefix) for prefix in ("accept", "reject", "tempfail", "nobody")}
    lmtp.send(list(recipients.values()))
    expected = {
        "accept": ("sent", "250 2.0.0 Message accepted"),
        "reject": ("bounced", "550 5.7.1 Not here"),
        "tempfail": ("deferred", "452 4.2.2 Mailbox busy"),
        "nobody": ("bounced", "550 5.1.1 No such mailbox"),
    }
    for prefix, (status, said) in expected.items():
        line = lmtp.result(recipients[prefix])
        assert f"status={status}" in line, line
        assert said in line, line
    # One stored row for the message, with each recipient's own outcome.
    assert rows(database, recipients["accept"]) == [("failed", "lmtp")]


@pytest.fixture(scope="module")
def policed_pipe(start_postfix, run_command, database, workdir):
    port = run_command("runpolicyserver", "--domain", "example.com")
    return start_postfix(
        "policy",
        "--mode", "pipe",
        "--domain", "example.com",
        "--command", readmail_command(database),
        "--pipe-dir", workdir,
        "--pipe-maxproc", "1",
        "-o", f"smtpd_recipient_restrictions=check_policy_service inet:127.0.0.1:{port}",
    )  # fmt: skip


def test_policy_server_refuses_unknown_recipients_at_rcpt(policed_pipe, database):
    """No accept-then-bounce (backscatter): Postfix refuses the recipient in the session."""
    unknown, known = tag("nobody"), tag("accept")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        policed_pipe.send([unknown])
    code, text = refused.value.recipients[unknown]
    assert code == 550
    assert text.decode().startswith("5.1.1") and "No such mailbox" in text.decode()
    policed_pipe.send([known])
    assert "status=sent" in policed_pipe.result(known)
    assert rows(database, known) == [("processed", "pipe")]
