"""Fixtures for the ingress tests: the inbound mailconf, in-process servers, TLS files."""

import smtplib
import subprocess
from contextlib import ExitStack

import pytest
from django.test import override_settings

from mailserver.ingress.server import MailServer, ServerThread
from tests.mailconfs import inbound as mailconf

MESSAGE = (
    b"From: Alice <alice@example.org>\r\nTo: accept@example.com\r\n"
    b"Subject: Hello\r\nMessage-ID: <%s@example.org>\r\n\r\nHi there\r\n"
)


def message(message_id: str = "m1") -> bytes:
    return MESSAGE % message_id.encode()


@pytest.fixture
def inbound_mailconf():
    mailconf.calls.clear()
    mailconf.stored_while_handling.clear()
    mailconf.failing.clear()
    with override_settings(ROOT_MAILCONF="tests.mailconfs.inbound"):
        yield mailconf


class RunningServer:
    """A started server and the thread that runs it, with helpers for tests."""

    def __init__(self, thread: ServerThread) -> None:
        self.thread = thread
        self.server = thread.server
        self.port = self.server.port

    def flush(self) -> None:
        """Wait until the server's pending database writes are committed."""
        if self.server.writer is not None:
            self.thread.call(self.server.writer.flush())

    def client(self, lmtp: bool = False, **kwargs) -> smtplib.SMTP:
        if lmtp:
            return smtplib.LMTP("127.0.0.1", self.port, **kwargs)
        return smtplib.SMTP("127.0.0.1", self.port, timeout=10, **kwargs)


@pytest.fixture
def start_server(inbound_mailconf):
    """Start ``MailServer(port=0, **options)`` in a thread; stopped after the test."""
    with ExitStack() as stack:

        def start(**options) -> RunningServer:
            thread = ServerThread(MailServer("127.0.0.1", 0, **options))
            thread.start()
            stack.callback(thread.stop, 2)
            return RunningServer(thread)

        yield start


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 and its key, made with openssl."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key
