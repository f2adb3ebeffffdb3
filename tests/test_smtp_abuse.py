"""SMTP abuse against a real ``runmailserver``: relaying, limits, timeouts, downgrades.

The server runs in a thread on 127.0.0.1 (``start_server`` in tests/ingress_fixtures.py)
and the client speaks raw SMTP over a socket, so every byte on the wire is the one the
test wrote: smtplib would tidy up the very commands these tests need to send broken.
"""

import contextlib
import socket
import ssl
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings

from mailserver.models.inbound import InboundMessage
from tests.strategies import addresses

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGE = (
    b"From: alice@example.org\r\nTo: accept@example.com\r\nSubject: abuse\r\n"
    b"Message-ID: <abuse-%d@example.org>\r\n\r\nHello\r\n"
)


class Client:
    """A raw SMTP client: send lines, read whole replies (multi-line ones too)."""

    def __init__(self, port: int, timeout: float = 10) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.file = self.sock.makefile("rb")
        self.greeting = self.reply()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> str:
        """One reply; '' when the server has closed the connection."""
        lines = []
        while True:
            line = self.file.readline()
            if not line:
                return "\n".join(lines)
            lines.append(line.decode("utf-8", "replace").rstrip("\r\n"))
            if line[3:4] != b"-":
                return "\n".join(lines)

    def cmd(self, line: str | bytes) -> str:
        self.send((line.encode() if isinstance(line, str) else line) + b"\r\n")
        return self.reply()

    def closed(self, timeout: float = 5) -> bool:
        """Whether the server closed the connection (reads past anything it still sends)."""
        self.sock.settimeout(timeout)
        try:
            while self.file.readline():
                pass
        except TimeoutError:
            return False
        except OSError:
            return True
        return True

    def read_all(self, timeout: float = 10) -> str:
        """Everything the server sends until it closes the connection."""
        self.sock.settimeout(timeout)
        chunks = []
        try:
            while chunk := self.sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass  # closed with our unread commands still in its buffer
        return b"".join(chunks).decode("utf-8", "replace").strip()

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def client(start_server):
    """Connect raw clients to a server started with ``options``; closed after the test."""
    opened = []

    def connect(server=None, **options):
        server = server or start_server(**options)
        opened.append(Client(server.port))
        return opened[-1]

    yield connect
    for c in opened:
        c.close()


def code(reply: str) -> int:
    return int(reply[:3]) if reply[:3].isdigit() else 0


# No open relay -------------------------------------------------------------------------

FOREIGN = [
    "victim@foreign.example",
    "VICTIM@FOREIGN.EXAMPLE",
    "victim@foreign.example.",  # trailing dot
    "@example.com:victim@foreign.example",  # source route through us
    "@example.com,@mx.example.com:victim@foreign.example",
    "victim%foreign.example@example.com",  # the percent hack, at our own domain
    "victim%foreign.example@EXAMPLE.COM",
    "foreign.example!victim@example.com",  # a UUCP bang path
    '"victim@foreign.example"@example.com',  # quoted local part naming another domain
    '"victim"@foreign.example',
    "accept@example.com@foreign.example",
    "accept@foreign.example",  # our local part, their domain
    "victim@[192.0.2.1]",  # address literals
    "victim@[IPv6:2001:db8::1]",
    "victim@localhost",
    "victim@127.0.0.1",
    "victim@example.com.foreign.example",
    "victim@foreign.example\x00@example.com",
    "<victim@foreign.example>@example.com",
]


@pytest.mark.parametrize("bracketed", [True, False], ids=["<a@b>", "a@b"])
@pytest.mark.parametrize("address", FOREIGN)
def test_no_rcpt_form_relays_to_a_foreign_domain(client, address, bracketed):
    """Each form is refused at RCPT, so no body is ever taken for a foreign address."""
    c = client()
    c.cmd("EHLO relay-test.example")
    assert code(c.cmd("MAIL FROM:<spammer@evil.example>")) == 250
    rcpt = f"RCPT TO:<{address}>" if bracketed else f"RCPT TO:{address}"
    reply = c.cmd(rcpt.encode("utf-8", "surrogateescape"))
    assert 500 <= code(reply) < 600, reply
    assert code(c.cmd("DATA")) == 503  # no valid recipient: no body taken
    assert not InboundMessage.objects.exists()


def test_a_relay_attempt_between_valid_recipients_is_refused_alone(client):
    c = client()
    c.cmd("EHLO relay-test.example")
    c.cmd("MAIL FROM:<alice@example.org>")
    replies = [c.cmd(f"RCPT TO:<{r}>") for r in ("accept@example.com", "victim@foreign.example")]
    assert [code(r) for r in replies] == [250, 550]
    assert code(c.cmd("DATA")) == 354
    assert code(c.cmd(MESSAGE % 1 + b".")) == 250


# Limits --------------------------------------------------------------------------------


def test_too_many_recipients_are_refused_with_452(client):
    c = client(max_recipients=3)
    c.cmd("EHLO limits.example")
    c.cmd("MAIL FROM:<alice@example.org>")
    codes = [code(c.cmd(f"RCPT TO:<accept-{i}@example.com>")) for i in range(10)]
    assert codes == [250] * 3 + [452] * 7  # RFC 5321 section 4.5.3.1.10
    assert code(c.cmd("DATA")) == 354
    assert code(c.cmd(MESSAGE % 2 + b".")) == 250


def test_too_many_sessions_get_421(start_server):
    server = start_server(max_sessions=5)
    clients = [Client(server.port) for _ in range(12)]
    try:
        greetings = [code(c.greeting) for c in clients]
        assert greetings.count(220) == 5
        assert greetings.count(421) == 7
    finally:
        for c in clients:
            c.close()
    time.sleep(0.2)
    again = Client(server.port)
    assert code(again.greeting) == 220
    again.close()


def test_a_harvester_is_cut_off_after_max_errors(client):
    """Probing addresses one RCPT at a time ends the session (Postfix: hard error limit)."""
    c = client(max_errors=5)
    c.cmd("EHLO harvest.example")
    c.cmd("MAIL FROM:<harvester@evil.example>")
    replies = [c.cmd(f"RCPT TO:<guess{i}@example.com>") for i in range(4)]
    assert [code(r) for r in replies] == [550] * 4
    assert code(c.cmd("RCPT TO:<guess4@example.com>")) == 550
    assert c.reply() == "421 4.7.0 Too many errors, closing connection"
    assert c.closed()


def test_unknown_commands_are_cut_off(client):
    c = client()
    c.send(b"".join(b"XYZZY%d\r\n" % i for i in range(10)))
    replies = c.read_all()
    assert replies.endswith("502 5.5.1 Too many unrecognized commands, goodbye.")


def test_temporary_failures_do_not_count_as_errors(client):
    """A client told 452 (too many recipients) must be able to go on."""
    c = client(max_recipients=1, max_errors=3)
    c.cmd("EHLO limits.example")
    c.cmd("MAIL FROM:<alice@example.org>")
    codes = [code(c.cmd(f"RCPT TO:<accept-{i}@example.com>")) for i in range(6)]
    assert codes == [250] + [452] * 5
    assert code(c.cmd("DATA")) == 354
    assert code(c.cmd(MESSAGE % 3 + b".")) == 250


def test_idle_client_is_disconnected(client):
    c = client(idle_timeout=0.5)
    started = time.monotonic()
    assert c.closed(timeout=5)
    assert time.monotonic() - started < 2


def test_slow_loris_command_is_bounded_by_the_idle_timeout(client):
    """One byte at a time never completes a command, so it never resets the timer."""
    c = client(idle_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(OSError):
        for byte in b"EHLO slow.example.with.a.very.long.name.that.never.ends" * 10:
            c.send(bytes([byte]))
            time.sleep(0.05)
    assert time.monotonic() - started < 3


def test_slow_loris_data_is_bounded_and_stores_nothing(client):
    """Trickling the body line by line: the whole DATA phase has the idle timeout."""
    c = client(idle_timeout=0.5)
    c.cmd("EHLO slow.example")
    c.cmd("MAIL FROM:<alice@example.org>")
    c.cmd("RCPT TO:<accept@example.com>")
    assert code(c.cmd("DATA")) == 354
    started = time.monotonic()
    with pytest.raises(OSError):
        for _ in range(200):
            c.send(b"x" * 10 + b"\r\n")
            time.sleep(0.05)
    assert time.monotonic() - started < 3
    assert not InboundMessage.objects.exists()


def test_pipelined_flood_is_cut_off_and_the_server_stays_up(start_server):
    """A megabyte of commands sent without reading a reply: the session ends, nothing else."""
    server = start_server(max_errors=10)
    flood = Client(server.port)
    line = b"RCPT TO:<victim@foreign.example>\r\n"
    with contextlib.suppress(OSError):  # the server may cut us off before we finish writing
        flood.send(b"EHLO flood.example\r\nMAIL FROM:<x@evil.example>\r\n" + line * 30000)
    replies = flood.read_all()  # returns once the server has closed the connection
    flood.close()
    # It stopped reading after max_errors refusals. (Closing a socket with our unread
    # commands in it sends a reset, which may discard the last replies, 421 included.)
    assert 1 <= replies.count("550 5.1.1") <= 10
    time.sleep(0.1)
    assert not server.server.sessions
    ok = Client(server.port)
    assert code(ok.cmd("EHLO fine.example")) == 250
    ok.close()


def test_pipelined_transaction_is_stored_once(client):
    """Legitimate pipelining (RFC 2920): the whole transaction in one write."""
    c = client()
    c.send(
        b"EHLO pipe.example\r\nMAIL FROM:<alice@example.org>\r\n"
        b"RCPT TO:<accept@example.com>\r\nRCPT TO:<nobody@example.com>\r\nDATA\r\n"
    )
    replies = [c.reply() for _ in range(5)]
    assert [code(r) for r in replies] == [250, 250, 250, 550, 354]
    assert code(c.cmd(MESSAGE % 4 + b".")) == 250
    assert InboundMessage.objects.count() == 1


@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(b"Subject: half", id="in the headers"),
        pytest.param(MESSAGE % 5, id="whole body, no end dot"),
        pytest.param(MESSAGE % 5 + b".", id="dot without CRLF"),
    ],
)
def test_disconnect_mid_data_stores_and_handles_nothing(start_server, inbound_mailconf, cut):
    server = start_server()
    c = Client(server.port)
    c.cmd("EHLO cut.example")
    c.cmd("MAIL FROM:<alice@example.org>")
    c.cmd("RCPT TO:<accept@example.com>")
    assert code(c.cmd("DATA")) == 354
    c.send(cut)
    c.sock.shutdown(socket.SHUT_RDWR)
    c.close()
    time.sleep(0.3)
    server.flush()
    assert not InboundMessage.objects.exists()
    assert inbound_mailconf.calls == {}
    # And the server still serves the next client.
    again = Client(server.port)
    assert code(again.cmd("EHLO next.example")) == 250
    again.close()


# TLS downgrade -------------------------------------------------------------------------


def server_tls_context(tls_files):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    return context


@pytest.mark.parametrize("command", ["MAIL FROM:<alice@example.org>", "RCPT TO:<a@b>", "DATA"])
def test_require_tls_refuses_mail_before_starttls(client, tls_files, command):
    c = client(tls_context=server_tls_context(tls_files), require_tls=True)
    ehlo = c.cmd("EHLO downgrade.example")
    assert "STARTTLS" in ehlo
    assert code(c.cmd(command)) == 530
    assert not InboundMessage.objects.exists()


def test_stripped_starttls_does_not_lower_the_requirement(client, tls_files):
    """A man in the middle that hides STARTTLS cannot make the server take mail in clear."""
    c = client(tls_context=server_tls_context(tls_files), require_tls=True)
    c.cmd("HELO downgrade.example")  # plain HELO: no extensions, so no STARTTLS offered
    assert code(c.cmd("MAIL FROM:<alice@example.org>")) == 530


@pytest.mark.parametrize("with_tls", [False, True], ids=["plain server", "STARTTLS server"])
def test_auth_is_never_offered_without_tls(client, tls_files, with_tls):
    options = {"tls_context": server_tls_context(tls_files)} if with_tls else {}
    c = client(**options)
    ehlo = c.cmd("EHLO auth.example")
    assert "AUTH" not in ehlo.upper()
    assert 500 <= code(c.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==")) < 600


def test_many_clients_at_once_all_get_an_answer(start_server):
    """Concurrency sanity for the limits above: 30 parallel sessions, each one mail."""
    server = start_server()
    replies = []

    def one(i):
        c = Client(server.port)
        c.cmd("EHLO many.example")
        c.cmd("MAIL FROM:<alice@example.org>")
        c.cmd("RCPT TO:<accept@example.com>")
        c.cmd("DATA")
        replies.append(code(c.cmd(MESSAGE % (100 + i) + b".")))
        c.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert replies == [250] * 30
    server.flush()
    assert InboundMessage.objects.count() == 30


def test_a_long_session_does_not_grow_with_its_messages(start_server, caplog):
    """A client may send thousands of messages in one session; its log notes are capped."""
    from mailserver.ingress.smtp import MAX_NOTES

    caplog.set_level("INFO", logger="mailserver.smtp")  # the notes feed this log line
    server = start_server()
    c = Client(server.port)
    c.cmd("EHLO long.example")
    for number in range(MAX_NOTES + 50):
        c.cmd("MAIL FROM:<alice@example.org>")
        c.cmd("RCPT TO:<accept@example.com>")
        c.cmd("DATA")
        assert code(c.cmd(MESSAGE % (1000 + number) + b".")) == 250
    [session] = server.server.sessions
    assert len(session.notes) == MAX_NOTES + 1  # and a "..." for the rest
    c.close()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(address=addresses())
def test_only_routed_addresses_are_accepted_at_rcpt(start_server, address):
    """Generated RCPT forms: accepted means a mail view takes it, never a relay."""
    from mailserver.exceptions import NoRoute
    from mailserver.routing import resolve

    server = _shared_server(start_server)
    c = Client(server.port)
    try:
        c.cmd("EHLO fuzz.example")
        c.cmd("MAIL FROM:<alice@example.org>")
        line = f"RCPT TO:<{address}>".encode("utf-8", "surrogateescape")
        reply = c.cmd(line.replace(b"\r", b"").replace(b"\n", b""))
    finally:
        c.close()
    assert 200 <= code(reply) < 600, reply
    if code(reply) == 250:
        accepted = address.strip().removeprefix("<").removesuffix(">")
        try:
            resolve(accepted)
        except NoRoute:
            pytest.fail(f"{address!r} was accepted but routes nowhere")


_servers = {}


def _shared_server(start_server):
    # One server for all the examples of a test run (hypothesis calls the test many times
    # with the same function-scoped fixture).
    key = id(start_server)
    if key not in _servers:
        _servers.clear()
        _servers[key] = start_server(max_errors=10**6)
    return _servers[key]
