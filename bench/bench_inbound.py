"""Messages per second into ``runmailserver`` next to a bare aiosmtpd server, pair by pair.

Every server runs in its own process, and all of them run side by side for the
whole benchmark: ours over SMTP and over LMTP (``MailServer``, as
``runmailserver [--lmtp]`` builds it, with a trivial view and storage on, SQLite
in WAL mode), and, for each protocol, aiosmtpd's own server class with a handler
that answers 250 and keeps nothing. Client processes open one connection each
and send messages back to back with smtplib. Each run measures ours and the
bare server back to back, so the ratio is taken per pair.

    python bench/bench_inbound.py [--quick] [--runs N] [--json FILE]
                                  [--no-store] [--profile FILE]

``--no-store`` also measures our SMTP server with ``MAILSERVER_STORE_INBOUND`` off.
``--profile FILE`` measures nothing: it runs our SMTP server alone under
pyinstrument, under the 8-client 2 KB load, and writes the text report to FILE.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import multiprocessing
import os
import re
import smtplib
import tempfile
import threading
import time
from collections import defaultdict
from functools import cached_property
from pathlib import Path

import common

SENDER = "bench-client@example.org"
RECIPIENTS = ("bench@example.com", "copy@example.com", "archive@example.com")
KB = 1024
#: The answer in seconds past which the benchmark gives up on a client or a server.
PATIENCE = 120


@dataclasses.dataclass(frozen=True)
class Load:
    """What the clients send to a server in one run."""

    protocol: str  # "smtp" or "lmtp"
    size: int
    clients: int
    messages: int  # in one run of the full benchmark, all clients together
    recipients: int = 1
    target: str = ""

    @property
    def name(self) -> str:
        copies = f", {self.recipients} recipients" if self.recipients > 1 else ""
        clients = f"{self.clients} client{'s' * (self.clients > 1)}"
        return f"{self.protocol.upper()} {self.size // KB} KB{copies}, {clients}"

    def per_client(self, quick: bool) -> int:
        return max(1, (self.messages // 10 if quick else self.messages) // self.clients)


LOADS = [
    Load("smtp", 2 * KB, 1, 600),
    Load("smtp", 2 * KB, 8, 800, target=">= 0.5"),
    Load("smtp", 100 * KB, 1, 200),
    Load("smtp", 100 * KB, 8, 240, target=">= 0.5"),
    Load("lmtp", 2 * KB, 8, 800, recipients=3, target=">= 0.4"),
]
PROFILED = LOADS[1]
WARM_UP = Load("smtp", 2 * KB, 1, 20)


# The mailconf of the benchmark (ROOT_MAILCONF is this module): one trivial view.
def noop(request):
    return None


def __getattr__(name):
    """``mailpatterns``, built on first use: routes can only be made once Django is set up."""
    if name != "mailpatterns":
        raise AttributeError(name)
    from mailserver.routing import route

    return [route(address, noop, name=address.split("@")[0]) for address in RECIPIENTS]


def make_message(size: int, number: int, client: int) -> bytes:
    head = (
        f"From: Bench <{SENDER}>\r\nTo: {', '.join(RECIPIENTS)}\r\n"
        f"Subject: Benchmark {client}-{number}\r\n"
        f"Message-ID: <{client}.{number}.{os.getpid()}.{time.monotonic_ns()}@bench>\r\n"
        "Date: Mon, 2 Jan 2023 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    ).encode()
    line = b"The quick brown fox jumps over the lazy dog, again and again.\r\n"
    return head + line * max(1, (size - len(head)) // len(line))


# Servers, each in a child process ------------------------------------------------


class Noop:
    """aiosmtpd handler that keeps nothing: what any server built on aiosmtpd pays at least."""

    async def handle_DATA(self, server, session, envelope):
        from aiosmtpd.lmtp import LMTP

        # RFC 2033: an LMTP server answers DATA once per recipient.
        replies = len(envelope.rcpt_tos) if isinstance(server, LMTP) else 1
        return "\r\n".join(["250 OK"] * replies)


class Bare:
    """aiosmtpd's SMTP or LMTP class with :class:`Noop`, on a loop in a thread, as ours runs."""

    def __init__(self, protocol: str) -> None:
        from aiosmtpd.lmtp import LMTP
        from aiosmtpd.smtp import SMTP

        self.session_class = LMTP if protocol == "lmtp" else SMTP
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> int:
        self.thread.start()
        listen = self.loop.create_server(self.session, "127.0.0.1", 0)
        server = asyncio.run_coroutine_threadsafe(listen, self.loop).result(PATIENCE)
        return server.sockets[0].getsockname()[1]

    def session(self):
        return self.session_class(Noop(), enable_SMTPUTF8=True, decode_data=False)

    def cpu(self) -> float:
        return time.process_time()

    def tally(self) -> dict:
        return {}

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class Ours:
    """``MailServer`` in a :class:`ServerThread`, with a database of its own."""

    def __init__(self, protocol: str, database: str, store: bool) -> None:
        setup_django(database, store)
        from mailserver.ingress.server import MailServer, ServerThread

        self.server = MailServer("127.0.0.1", 0, lmtp=protocol == "lmtp")
        self.thread = ServerThread(self.server)

    def start(self) -> int:
        return self.thread.start().port

    def cpu(self) -> float:
        """CPU seconds so far, once what the writer still holds is committed and counted."""
        if self.server.writer is not None:
            self.thread.call(self.server.writer.flush())
        return time.process_time()

    def tally(self) -> dict:
        """What the database holds, to prove no accepted message was lost."""
        from mailserver.models.inbound import InboundMessage

        self.cpu()
        rows = InboundMessage.objects.all()
        return {
            "stored": rows.count(),
            "processed": rows.filter(status=InboundMessage.Status.PROCESSED).count(),
            "commits": self.server.writer.batches if self.server.writer else 0,
        }

    def stop(self) -> None:
        self.thread.stop()
        self.server.executor.shutdown(wait=True)  # so every pool thread's profile is in


def setup_django(database: str, store: bool) -> None:
    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "mailserver"],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": database,
                "OPTIONS": {
                    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                    "transaction_mode": "IMMEDIATE",
                },
            }
        },
        ROOT_MAILCONF="__main__",
        MAILSERVER_STORE_INBOUND=store,
        USE_TZ=True,
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        LOGGING_CONFIG=None,
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)


def serve(kind: str, protocol: str, database: str, conn, profile: str | None) -> None:
    """Child process: run one server; answer the parent's commands until it says stop."""
    profiles = ThreadProfiles() if profile else None
    server = Bare(protocol) if kind == "bare" else Ours(protocol, database, kind == "ours")
    try:
        conn.send(server.start())
        for command in iter(conn.recv, "stop"):
            conn.send(getattr(server, command)())
    finally:
        server.stop()
        if profiles:
            profiles.write(profile)


class ThreadProfiles:
    """Run each thread started from now on under a pyinstrument profiler of its own.

    pyinstrument samples only the thread it was started in, and our server's work
    is spread over the event loop, the writer and the view pool. Samples of a
    thread waiting for work are left out, or the idle pool would fill the report.
    """

    #: Where a thread of the server waits for work (leaf frames of pyinstrument's samples).
    IDLE = ("SimpleQueue.get\x00", "epoll.poll\x00")

    def __init__(self) -> None:
        self.sessions = defaultdict(list)
        run = threading.Thread.run

        def profiled_run(thread):
            from pyinstrument import Profiler

            profiler = Profiler()
            profiler.start()
            try:
                run(thread)
            finally:
                self.sessions[self.group(thread)].append(profiler.stop())

        threading.Thread.run = profiled_run

    @staticmethod
    def group(thread: threading.Thread) -> str:
        if "run_forever" in thread.name:
            return "event loop (aiosmtpd, the pipeline)"
        return re.sub(r"_\d+$", "", thread.name)

    def write(self, path: str) -> None:
        """The busiest functions (self time) of all threads, then each group's call tree."""
        from pyinstrument.renderers import ConsoleRenderer
        from pyinstrument.session import Session

        groups = {group: self.busy(group, sessions) for group, sessions in self.sessions.items()}
        everything = functools.reduce(Session.combine, groups.values())
        flat = ConsoleRenderer(flat=True, short_mode=True)
        tree = ConsoleRenderer(short_mode=True)
        sections = [f"== all threads, busy\n{flat.render(everything)}"]
        sections += [f"== {group}, busy\n{tree.render(s)}" for group, s in groups.items()]
        Path(path).write_text("\n".join(sections))

    def busy(self, group: str, sessions: list):
        """``sessions`` in one tree, without the samples of waiting for work."""
        from pyinstrument.session import Session

        session = functools.reduce(Session.combine, sessions)
        root = f"{group}\x00<threads>\x00{len(sessions)}"  # instead of each thread's own
        session.frame_records = [
            ([root, *stack[1:]], seconds)
            for stack, seconds in session.frame_records
            if not stack[-1].startswith(self.IDLE)
        ]
        return session


class Server:
    """The parent's handle on a server child process, driven over a pipe."""

    def __init__(self, ctx, kind: str, protocol: str, directory: str, profile=None) -> None:
        self.kind, self.protocol = kind, protocol
        self.sent = 0  # messages accepted, to check against what ours stored
        self.conn, child = ctx.Pipe()
        database = os.path.join(directory, f"{kind}-{protocol}.sqlite3")
        args = (kind, protocol, database, child, profile)
        self.process = ctx.Process(target=serve, args=args, daemon=True)
        self.process.start()

    @property
    def name(self) -> str:
        return f"{self.kind} {self.protocol.upper()}"

    @cached_property
    def port(self) -> int:
        """The child's first word; read on first use, so servers start in parallel."""
        return self._answer()

    def ask(self, command: str):
        self.port  # noqa: B018 (the child's first answer is its port: take it off the pipe)
        self.conn.send(command)
        return self._answer()

    def _answer(self):
        if not self.conn.poll(PATIENCE):
            raise TimeoutError(f"The {self.name} server did not answer.")
        return self.conn.recv()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send("stop")
        self.process.join(PATIENCE)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()


# Clients, each in a child process ------------------------------------------------


def client(number: int, conn) -> None:
    """Child process: for each job, connect, greet, wait for the go, send, report."""
    for job in iter(conn.recv, None):
        conn.send(send_job(number, conn, *job))


def send_job(number, conn, port, protocol, size, count, recipients) -> str | None:
    """Send ``count`` messages on one connection; the error, if any, is the answer."""
    messages = [make_message(size, n, number) for n in range(count)]
    smtp_class = smtplib.LMTP if protocol == "lmtp" else smtplib.SMTP
    try:
        with smtp_class("127.0.0.1", port, timeout=PATIENCE) as smtp:
            code, reply = smtp.ehlo("bench.example.org")  # LHLO for smtplib.LMTP
            if code != 250:
                raise smtplib.SMTPHeloError(code, reply)
            conn.send(None)  # ready
            if conn.recv() is None:  # the benchmark stopped instead of saying go
                raise SystemExit
            for raw in messages:
                deliver(smtp, raw, RECIPIENTS[:recipients])
    except Exception as exc:
        return f"client {number}: {exc!r}"
    return None


def deliver(smtp: smtplib.SMTP, raw: bytes, recipients) -> None:
    """One transaction; raise unless every recipient was accepted.

    smtplib reads one reply after DATA; an LMTP server sends one per recipient.
    """
    codes = [smtp.mail(SENDER)[0], *(smtp.rcpt(address)[0] for address in recipients)]
    codes.append(smtp.data(raw)[0])
    if isinstance(smtp, smtplib.LMTP):
        codes.extend(smtp.getreply()[0] for _ in recipients[1:])
    if any(code != 250 for code in codes):
        raise smtplib.SMTPException(f"replies {codes}")


class Clients:
    """Client processes started once, so no run pays for starting Python."""

    def __init__(self, ctx, count: int) -> None:
        self.pipes, self.processes = [], []
        for number in range(count):
            parent, child = ctx.Pipe()
            process = ctx.Process(target=client, args=(number, child), daemon=True)
            process.start()
            self.pipes.append(parent)
            self.processes.append(process)

    def run(self, port: int, load: Load, per_client: int) -> float:
        """Send ``load``; return the seconds from the go to the last reply."""
        pipes = self.pipes[: load.clients]
        job = (port, load.protocol, load.size, per_client, load.recipients)
        self._all(pipes, job)  # connected and greeted
        started = time.perf_counter()
        self._all(pipes, "go")
        return time.perf_counter() - started

    @staticmethod
    def _all(pipes, message) -> None:
        for pipe in pipes:
            pipe.send(message)
        errors = []
        for pipe in pipes:
            if not pipe.poll(PATIENCE):
                raise TimeoutError("A client did not answer.")
            errors.append(pipe.recv())
        if any(errors):
            raise RuntimeError("\n".join(filter(None, errors)))

    def stop(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(None)
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.terminate()
                process.join()


# Measuring -----------------------------------------------------------------------


class Side:
    """Runs of one load against one server, for :func:`common.compare`.

    Each call returns messages per second and keeps the server's CPU time per
    message, which a shared machine disturbs less than throughput.
    """

    def __init__(self, server: Server, clients: Clients, load: Load, per_client: int) -> None:
        self.server, self.clients, self.load, self.per_client = server, clients, load, per_client
        self.cpu_us: list[float] = []

    def __call__(self) -> float:
        before = self.server.ask("cpu")
        seconds = self.clients.run(self.server.port, self.load, self.per_client)
        messages = self.per_client * self.load.clients
        self.cpu_us.append((self.server.ask("cpu") - before) / messages * 1e6)
        self.server.sent += messages
        return messages / seconds


def measure(report, servers, clients, load: Load, kind: str, options) -> None:
    """Add the figure of ``load``: our ``kind`` of server against the bare one."""
    per_client = load.per_client(options.quick)
    ours = Side(servers[kind, load.protocol], clients, load, per_client)
    bare = Side(servers["bare", load.protocol], clients, load, per_client)
    name = load.name if kind == "ours" else f"{load.name}, storage off"
    target = load.target if kind == "ours" else ""
    figure = common.compared(name, "msg/s", ours, bare, options.runs, "bare aiosmtpd", target)
    figure.details = {
        "messages_per_run": per_client * load.clients,
        "server_cpu_us_per_msg": {
            "ours": common.Spread.of(ours.cpu_us),
            "bare": common.Spread.of(bare.cpu_us),
        },
    }
    report.add(figure)
    cpu = figure.details["server_cpu_us_per_msg"]
    report.note(f"server CPU µs/msg, {name}: ours {cpu['ours']}, bare {cpu['bare']}")


def check_stored(report, server: Server) -> str | None:
    """Note what ``server`` stored; return the complaint if it lost a message."""
    tally = server.ask("tally")
    if tally["stored"] == tally["processed"] == server.sent:
        report.note(
            f"{server.name}: all {server.sent} messages stored and processed, "
            f"in {tally['commits']} commits"
        )
        return None
    complaint = (
        f"{server.name} LOST MESSAGES: {server.sent} accepted, {tally['stored']} stored, "
        f"{tally['processed']} processed"
    )
    report.note(complaint)
    return complaint


def benchmark(ctx, stack, directory: str, options) -> None:
    pairs = [("ours", "smtp"), ("bare", "smtp"), ("ours", "lmtp"), ("bare", "lmtp")]
    if options.no_store:
        pairs.append(("ours-no-store", "smtp"))
    servers = {pair: stack.enter_context(running(Server(ctx, *pair, directory))) for pair in pairs}
    clients = stack.enter_context(running(Clients(ctx, max(load.clients for load in LOADS))))
    for server in servers.values():  # the first messages pay for imports and caches
        warm_up = dataclasses.replace(WARM_UP, protocol=server.protocol)
        Side(server, clients, warm_up, warm_up.messages)()
    report = common.Report("Inbound messages/s: runmailserver vs a bare aiosmtpd server")
    for load in LOADS:
        measure(report, servers, clients, load, "ours", options)
        if options.no_store and load.protocol == "smtp":
            measure(report, servers, clients, load, "ours-no-store", options)
    ours = [server for (kind, _), server in servers.items() if kind == "ours"]
    complaints = [check_stored(report, server) for server in ours]
    common.finish(report, options)
    if any(complaints):
        raise SystemExit("\n".join(filter(None, complaints)))


def profile(ctx, stack, directory: str, options) -> None:
    """Run our SMTP server alone under pyinstrument, under :data:`PROFILED`."""
    clients = stack.enter_context(running(Clients(ctx, PROFILED.clients)))
    with running(Server(ctx, "ours", "smtp", directory, options.profile)) as server:
        per_client = PROFILED.per_client(options.quick)
        rate = Side(server, clients, PROFILED, per_client)()
    print(f"{PROFILED.name}: {rate:.0f} msg/s under the profiler; report in {options.profile}")


@contextlib.contextmanager
def running(process):
    """Stop ``process`` (a :class:`Server` or :class:`Clients`) however the block ends."""
    try:
        yield process
    finally:
        process.stop()


def main() -> None:
    options = common.arguments(__doc__.split("\n\n")[0], runs=5)
    extra = argparse.ArgumentParser()
    extra.add_argument("--no-store", action="store_true")
    extra.add_argument("--profile", metavar="FILE")
    options = extra.parse_known_args(namespace=options)[0]
    ctx = multiprocessing.get_context("spawn")
    with (
        tempfile.TemporaryDirectory(prefix="bench-inbound-") as directory,
        contextlib.ExitStack() as stack,
    ):
        (profile if options.profile else benchmark)(ctx, stack, directory, options)


if __name__ == "__main__":
    main()
