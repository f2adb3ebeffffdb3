"""The queue worker delivering to a real Postfix smarthost (../shared/mta, smarthost mode).

Needs root, Postfix and swaks (``postfix-harness.sh install``); skipped with the
reason otherwise, and failed instead in CI.
"""

import mailbox
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
from django.core.mail import EmailMessage
from django.test import override_settings

from mailserver.outbound import enqueue, send_queued
from tests.outbound_fixtures import deliver_to
from tests.servers import postfix_harness as harness
from tests.servers import postfix_missing, require

pytestmark = [pytest.mark.mta, pytest.mark.django_db]


@pytest.fixture(scope="module")
def smarthost():
    require(postfix_missing())
    # Not tmp_path: pytest's base directory is mode 0700 and Postfix's users need a way in.
    directory = Path(tempfile.mkdtemp(prefix="pfh-outbound-", dir="/tmp")) / "postfix"
    directory.parent.chmod(0o755)
    started = harness("start", directory, "--mode", "smarthost", "--port", "auto")
    assert started.returncode == 0, started.stdout + started.stderr
    env = dict(line.split("=", 1) for line in started.stdout.splitlines() if "=" in line)
    env["DIR"] = str(directory)
    try:
        yield env
    finally:
        harness("cleanup", directory)
        shutil.rmtree(directory.parent, ignore_errors=True)


def delivered(env, address: str) -> list:
    box = mailbox.Maildir(Path(env["HARNESS_MAIL"]) / "catchall", create=False)
    return [m for m in box if m["Delivered-To"] == address]


def test_queued_mail_lands_in_the_smarthosts_maildir(smarthost):
    tag = uuid.uuid4().hex[:8]
    ok, refused, later = (
        f"ok-{tag}@example.net",
        f"rcpt-550-{tag}@example.net",
        f"rcpt-451-{tag}@example.net",
    )
    with override_settings(**deliver_to("127.0.0.1", int(smarthost["HARNESS_PORT"]))):
        row = enqueue(
            EmailMessage(f"Hello {tag}", "Body", "site@example.com", [ok, refused, later])
        )
        send_queued()
    assert dict(row.recipients.values_list("address", "status")) == {
        ok: "sent",
        refused: "failed",
        later: "deferred",
    }
    assert row.recipients.get(address=refused).last_reply.startswith("550 5.1.1")
    waited = harness("wait-log", smarthost["DIR"], f"to=<{ok}>.*status=sent", 20, timeout=40)
    assert waited.returncode == 0, waited.stdout + waited.stderr
    [message] = delivered(smarthost, ok)
    assert message["Subject"] == f"Hello {tag}"
    assert message["Message-ID"] == row.message_id
