"""``manage.py readmail`` as an MTA's pipe transport runs it: a real subprocess."""

import mailbox
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Environment for subprocesses sharing a file database with the tables created."""
    db = tmp_path_factory.mktemp("readmail") / "db.sqlite3"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "MAILSERVER_TEST_DB": str(db),
    }
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--run-syncdb", "-v0"], env=env, check=True
    )
    return env


def readmail(env, raw, *args, **extra_env):
    return subprocess.run(
        [sys.executable, "-m", "django", "readmail", *args],
        input=raw,
        capture_output=True,
        env={**env, **extra_env},
        timeout=60,
    )


MESSAGE = (
    b"From: Alice <alice@example.org>\r\nTo: accept@example.com\r\n"
    b"Subject: pipe test\r\nMessage-ID: <pipe-1@example.org>\r\n\r\nHello\r\n"
)


@pytest.mark.parametrize(
    ("recipient", "exit_code", "stderr_start"),
    [
        ("accept@example.com", 0, ""),
        ("nobody@example.com", 67, "5.1.1"),
        ("reject@example.com", 69, "5.7.1"),
        ("tempfail@example.com", 75, "4.2.2"),
        ("broken@example.com", 75, "4.3.0"),
    ],
)
def test_exit_codes(env, recipient, exit_code, stderr_start):
    proc = readmail(env, MESSAGE, "--sender", "alice@example.org", "--recipient", recipient)
    assert proc.returncode == exit_code, proc.stderr
    stderr = proc.stderr.decode()
    assert stderr.startswith(stderr_start)
    assert "Traceback" not in stderr
    assert "secret" not in stderr


def test_empty_input_is_a_data_error(env):
    proc = readmail(env, b"", "--sender", "a@example.org", "--recipient", "accept@example.com")
    assert proc.returncode == 65
    assert proc.stderr.decode().startswith("5.6.0")


def test_oversized_message_is_refused(env):
    big = MESSAGE + b"x" * 5000
    proc = readmail(
        env,
        big,
        "--sender",
        "a@example.org",
        "--recipient",
        "accept@example.com",
        MAILSERVER_TEST_MAX_SIZE="1000",
    )
    assert proc.returncode == 65
    assert proc.stderr.decode().startswith("5.3.4")


def test_null_sender_is_accepted(env):
    proc = readmail(env, MESSAGE, "--sender", "", "--recipient", "accept@example.com")
    assert proc.returncode == 0, proc.stderr


def test_recipients_come_from_headers_without_recipient(env):
    assert readmail(env, MESSAGE, "--sender", "alice@example.org").returncode == 0
    refused = MESSAGE.replace(b"To: accept@", b"To: nobody@")
    assert readmail(env, refused, "--sender", "alice@example.org").returncode == 67


def test_a_temporary_failure_wins_over_success(env):
    proc = readmail(
        env,
        MESSAGE,
        "--sender",
        "a@example.org",
        "--recipient",
        "accept@example.com",
        "--recipient",
        "tempfail@example.com",
    )
    assert proc.returncode == 75


def test_mbox_replay(env, tmp_path):
    box = mailbox.mbox(tmp_path / "in.mbox")
    box.add(MESSAGE)
    box.add(MESSAGE.replace(b"To: accept@", b"To: nobody@"))
    box.close()
    proc = readmail(env, b"", "--mbox", str(tmp_path / "in.mbox"))
    assert proc.returncode == 67
    assert "2 messages read, 1 not accepted." in proc.stdout.decode()


def test_missing_mbox_defers_without_traceback(env, tmp_path):
    proc = readmail(env, b"", "--mbox", str(tmp_path / "missing.mbox"))
    assert proc.returncode == 75
    assert "Traceback" not in proc.stderr.decode()


def test_readmail_does_not_import_the_heavy_parts(env):
    """readmail starts fast: no aiosmtpd, no admin sites, no outbound worker."""
    code = (
        "import sys, django; django.setup();"
        "from django.core.management import load_command_class;"
        "load_command_class('mailserver', 'readmail');"
        "import mailserver.ingress.pipe, mailserver.ingress.pipeline;"
        "heavy = ('aiosmtpd', 'mailserver.outbound.worker');"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True)
    assert proc.stdout.decode().strip() == "[]"
