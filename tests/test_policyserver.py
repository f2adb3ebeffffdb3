"""``runpolicyserver``: Postfix's policy delegation protocol, answered from the mailconf."""

import asyncio
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mailserver.ingress.policy import PolicyServer, policy_action

ROOT = Path(__file__).resolve().parent.parent


def request(recipient, state="RCPT", **extra):
    return {
        "request": "smtpd_access_policy",
        "protocol_state": state,
        "protocol_name": "ESMTP",
        "client_address": "192.0.2.1",
        "sender": "alice@example.org",
        "recipient": recipient,
        **extra,
    }


@pytest.mark.parametrize(
    ("recipient", "state", "domains", "action"),
    [
        ("accept@example.com", "RCPT", None, "DUNNO"),
        ("Accept@EXAMPLE.com", "RCPT", None, "DUNNO"),
        ("nobody@example.com", "RCPT", None, "550 5.1.1 No such mailbox"),
        ("nobody@elsewhere.example", "RCPT", None, "550 5.1.1 No such mailbox"),
        # Limited to our domains: someone else's recipients are not ours to judge.
        ("nobody@elsewhere.example", "RCPT", ["example.com"], "DUNNO"),
        ("nobody@example.com", "RCPT", ["example.com"], "550 5.1.1 No such mailbox"),
        # Only the RCPT stage is judged.
        ("nobody@example.com", "DATA", None, "DUNNO"),
        ("", "RCPT", None, "DUNNO"),
    ],
)
def test_policy_action(inbound_mailconf, recipient, state, domains, action):
    assert policy_action(request(recipient, state), domains) == action


@pytest.fixture
def policy_server(inbound_mailconf):
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = PolicyServer("127.0.0.1", 0, idle_timeout=5)
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    yield server
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def ask(sock, attributes):
    sock.sendall("".join(f"{k}={v}\n" for k, v in attributes.items()).encode() + b"\n")
    answer = b""
    while not answer.endswith(b"\n\n"):
        chunk = sock.recv(4096)
        assert chunk, "the policy server closed the connection"
        answer += chunk
    return answer.decode()


def test_several_requests_on_one_connection(policy_server):
    with socket.create_connection(("127.0.0.1", policy_server.port), timeout=5) as sock:
        assert ask(sock, request("accept@example.com")) == "action=DUNNO\n\n"
        assert ask(sock, request("nobody@example.com")) == "action=550 5.1.1 No such mailbox\n\n"


def test_command_serves_until_sigterm(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "tests.settings_inbound",
    }
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "django", "runpolicyserver", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "Answering policy requests" in process.stdout.readline()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            assert ask(sock, request("nobody@example.com")).startswith("action=550 5.1.1")
        process.terminate()
        assert process.wait(10) == 0
    finally:
        process.kill()
        process.communicate()
