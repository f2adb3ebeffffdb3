"""End to end with real servers: the queue sends through an SMTP sink with VERP return
paths, a DSN to one of them comes back through ``readmail`` (a subprocess) or
``runmailserver``, and the recipient is bounced, suppressed, and not mailed again."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from mailserver.models import Bounce, OutboundRecipient
from mailserver.outbound import enqueue, send_queued
from mailserver.suppression import is_suppressed
from mailserver.test.smtpsink import SMTPSink
from tests.bounces_fixtures import VERP, dsn, message
from tests.outbound_fixtures import deliver_to

ROOT = Path(__file__).resolve().parent.parent

# Run in a subprocess sharing the file database: queue a message and send the queue.
SEND = """
import sys
from django.core.mail import EmailMessage
from mailserver.outbound import enqueue, send_queued
enqueue(EmailMessage(sys.argv[1], "Body", "site@example.com", sys.argv[2:]))
send_queued()
"""
STATE = """
import json
from mailserver.models import OutboundRecipient, Suppression
print(json.dumps({
    "recipients": list(OutboundRecipient.objects.order_by("pk").values_list("address", "status")),
    "suppressed": list(Suppression.objects.values_list("address", "reason")),
}))
"""


def run(env, *args, **kwargs):
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, timeout=60, check=True, **kwargs
    )


@pytest.fixture
def world(tmp_path):
    """A sink, and an environment for subprocesses that share a file database."""
    with SMTPSink() as sink:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "tests.settings_bounces",
            "MAILSERVER_TEST_DB": str(tmp_path / "db.sqlite3"),
            "MAILSERVER_TEST_SINK_PORT": str(sink.port),
        }
        run(env, "-m", "django", "migrate", "--run-syncdb", "-v0")
        yield sink, env


def send(env, subject, *to):
    run(env, "-c", "import django; django.setup()\n" + SEND, subject, *to)


def state(env):
    out = run(env, "-c", "import django; django.setup()\n" + STATE).stdout
    return json.loads(out)


@pytest.mark.parametrize("tamper", [False, True])
def test_a_dsn_through_readmail(world, tamper):
    sink, env = world
    send(env, "News", "gone@example.net", "fine@example.net")
    return_paths = {m.rcpt_tos[0]: m.mail_from for m in sink.messages}
    assert return_paths["gone@example.net"] != return_paths["fine@example.net"]
    address = return_paths["gone@example.net"]
    if tamper:
        address = address.replace("bounces+", "bounces+1")

    proc = subprocess.run(
        [sys.executable, "-m", "django", "readmail", "--sender", "", "--recipient", address],
        input=dsn("gone@example.net"),
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr

    sink.messages.clear()
    send(env, "Again", "gone@example.net")
    after = state(env)
    if tamper:
        assert after["suppressed"] == []
        assert ["gone@example.net", "sent"] in after["recipients"][-1:]
        assert len(sink.messages) == 1
    else:
        assert after["suppressed"] == [["gone@example.net", "bounce"]]
        assert after["recipients"] == [
            ["gone@example.net", "bounced"],
            ["fine@example.net", "sent"],
            ["gone@example.net", "suppressed"],
        ]
        assert sink.messages == []


@pytest.mark.django_db(transaction=True)
def test_a_dsn_through_runmailserver(start_server):
    with (
        SMTPSink() as sink,
        override_settings(
            MAILSERVER_VERP=VERP,
            ROOT_MAILCONF="tests.mailconfs.bounces",
            **deliver_to("127.0.0.1", sink.port),
        ),
    ):
        enqueue(message("gone@example.net"))
        send_queued()
        [sent] = sink.messages
        server = start_server()
        with server.client() as client:
            client.sendmail("", [sent.mail_from], dsn("gone@example.net"))

        assert OutboundRecipient.objects.get().status == "bounced"
        assert Bounce.objects.get().inbound_message is not None
        assert is_suppressed("gone@example.net")

        sink.messages.clear()
        later = enqueue(message("gone@example.net", subject="Again"))
        send_queued()
        assert later.recipients.get().status == "suppressed"
        assert sink.messages == []
