"""The outbound queue, in messages per second, against django-mailer and django-post-office.

Run it from the repository root, in the benchmarks' own environment (the only place the
anchors are installed; without them, only our figures are measured)::

    .venv-bench/bin/python bench/bench_outbound.py            # full run, about 3 minutes
    .venv-bench/bin/python bench/bench_outbound.py --quick    # a smoke run
    .venv-bench/bin/python bench/bench_outbound.py --json results.json

Figures, each comparison measured pair by pair in the same run (``common.compare``):

* enqueue one by one, on SQLite and on PostgreSQL: ``send_mail()`` through our
  ``QueuedEmailBackend``, against django-mailer's ``mailer.send_mail()`` and
  post-office's queued ``mail.send(priority="medium")``;
* enqueue in bulk, on SQLite and on PostgreSQL: ``enqueue_many()``, against
  django-mailer's fastest bulk path (``Message.objects.bulk_create()``) and
  post-office's ``mail.send_many()``;
* drain with one worker on SQLite to a local SMTP sink: ``Worker().drain()``, against
  django-mailer's ``engine.send_all()``, post-office's ``send_queued_mail`` command (one
  process, with its default five sending threads), and the sink's ceiling: one smtplib
  client sending the same messages, pre-rendered, over one connection, with no queue;
* drain with 4 worker processes against 1 on PostgreSQL, to a sink that waits 20 ms per
  message as a real smarthost does: by the sink's arrivals (steady state) and by the wall
  clock (with the processes' start-up).

Every contender gets the same ~2 KB messages, and every run checks that all of them were
queued, or delivered to the sink, so nothing is timed that did not happen.

Django's settings are configured once per process, so each configuration runs in a
process of its own, started with ``--role``: the in-process figures on SQLite, those on
PostgreSQL, and each PostgreSQL worker. The sink runs in a process of its own as well.
PostgreSQL is the server at 127.0.0.1:5432 (user postgres); every database made here is
a throwaway, dropped WITH (FORCE).
"""

from __future__ import annotations

import json
import smtplib
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from email.utils import parseaddr
from functools import partial
from importlib.util import find_spec
from operator import truediv
from pathlib import Path

import common
from common import Figure, Report, Spread, compare, compared, repeat

UNIT = "msg/s"
#: How long the slow sink takes per message, as a real smarthost does.
SMARTHOST_DELAY = 0.02
#: A role (a configured Django, a worker) that has not finished by then is stuck.
ROLE_TIMEOUT = 600
#: SQLite as the project template configures it, in WAL mode (see docs/decisions.rst).
SQLITE = {
    "ENGINE": "django.db.backends.sqlite3",
    "OPTIONS": {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    },
}
QUEUED_BACKEND = "mailserver.backends.QueuedEmailBackend"
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
BODY = "".join(
    f"Line {n:02}: your order has shipped; here is what is in the parcel, and when.\n"
    for n in range(22)
)
WORKERS = "drain, 4 vs 1 workers, PostgreSQL, 20 ms sink"
#: Targets of the performance issue, per figure and baseline.
TARGETS = {
    ("enqueue one by one", "django-mailer"): ">= 1",
    ("enqueue in bulk", "django-mailer"): ">= 1",
    ("drain, 1 worker", "django-mailer"): ">= 2.5",
    ("drain, 1 worker", "django-post-office"): ">= 1.2",
}


@dataclass(frozen=True)
class Sizes:
    """Messages per run of each figure: bounded, so a full run takes about 3 minutes."""

    one_by_one: int
    bulk: int
    drain: int
    #: For one PostgreSQL worker; four get twice as many, so both run for a while.
    workers: int


FULL = Sizes(one_by_one=100, bulk=500, drain=150, workers=100)
QUICK = Sizes(one_by_one=10, bulk=50, drain=20, workers=10)


def messages(count: int, tag: str) -> list:
    """``count`` fresh ~2 KB messages with one recipient each and ``tag`` in their Message-ID.

    Fresh for every run, because queueing adds headers to a message; the tag tells one
    run's deliveries from another's.
    """
    from django.core.mail import EmailMessage

    return [
        EmailMessage(
            f"Your order {tag}-{n} has shipped",
            BODY,
            "Shop <shop@example.com>",
            [f"customer{n}@example.net"],
            headers={"Message-ID": f"<{tag}-{n}@bench.example.com>"},
        )
        for n in range(count)
    ]


def new_tag() -> str:
    return uuid.uuid4().hex[:8]


# The contenders. Each one queues (one by one, or in bulk from input prepared beforehand,
# so that only the queueing is timed), counts what it holds, and drains.


class Contender:
    """What every contender does the same way."""

    name = ""

    def prepare_bulk(self, batch: list) -> list:
        return batch

    def trouble(self) -> str:
        """Why a message was not sent, if the contender recorded it: for the report."""
        return ""


class Ours(Contender):
    """Our queue: ``send_mail()`` through ``QueuedEmailBackend``, ``enqueue_many()``, a worker."""

    name = "ours"

    def send_one(self, message) -> None:
        from django.core.mail import send_mail

        send_mail(message.subject, message.body, message.from_email, message.to)

    def enqueue_bulk(self, batch: list) -> None:
        from mailserver.outbound import enqueue_many

        enqueue_many(batch)

    def queued(self) -> int:
        from mailserver.models import OutboundMessage

        return OutboundMessage.objects.count()

    def drain(self) -> None:
        from mailserver.outbound import Worker

        Worker().drain()

    def trouble(self) -> str:
        from mailserver.models import OutboundMessage

        errors = OutboundMessage.objects.exclude(last_error="").values_list("last_error")
        return next(iter(errors.first() or ()), "")


class DjangoMailer(Contender):
    """django-mailer: a pickled ``EmailMessage`` per row; ``send_all()`` sends and deletes."""

    name = "django-mailer"
    app = "mailer"

    def send_one(self, message) -> None:
        import mailer

        mailer.send_mail(message.subject, message.body, message.from_email, message.to)

    def enqueue_bulk(self, batch: list) -> None:
        from mailer.models import Message

        Message.objects.bulk_create([Message(email=message) for message in batch])

    def queued(self) -> int:
        from mailer.models import Message

        return Message.objects.count()

    def drain(self) -> None:
        from mailer import engine

        engine.send_all()

    def trouble(self) -> str:
        from mailer.models import RESULT_FAILURE, MessageLog

        failures = MessageLog.objects.filter(result=RESULT_FAILURE).values_list("log_message")
        return next(iter(failures.first() or ()), "")


class PostOffice(Contender):
    """django-post-office: a row of fields per message, rendered when it is sent."""

    name = "django-post-office"
    app = "post_office"

    def send_one(self, message) -> None:
        from post_office import mail

        mail.send(
            message.to,
            message.from_email,
            subject=message.subject,
            message=message.body,
            priority="medium",
        )

    def prepare_bulk(self, batch: list) -> list[dict]:
        return [
            {
                "recipients": message.to,
                "sender": message.from_email,
                "subject": message.subject,
                "message": message.body,
                "headers": message.extra_headers,
                "priority": "medium",
            }
            for message in batch
        ]

    def enqueue_bulk(self, batch: list[dict]) -> None:
        from post_office import mail

        mail.send_many(batch)

    def queued(self) -> int:
        from post_office.models import STATUS, Email

        return Email.objects.filter(status=STATUS.queued).count()

    def drain(self) -> None:
        from django.core.management import call_command

        # Its documented way to send the queue (what cron runs), in one process.
        call_command("send_queued_mail", processes=1)

    def trouble(self) -> str:
        from post_office.models import STATUS, Log

        failures = Log.objects.filter(status=STATUS.failed).values_list("message")
        return next(iter(failures.first() or ()), "")


ANCHORS = (DjangoMailer, PostOffice)


class Ceiling(Contender):
    """What the sink takes at most: one smtplib client, one connection, no queue at all."""

    name = "sink ceiling (smtplib)"

    def __init__(self, port: int) -> None:
        self.port = port
        self.pending: list[tuple[str, list[str], bytes]] = []

    def prepare_bulk(self, batch: list) -> list[tuple[str, list[str], bytes]]:
        # With CRLF line ends, as SMTP wants them and as Django's SMTP backend sends them.
        return [
            (
                parseaddr(message.from_email)[1],
                message.recipients(),
                message.message().as_bytes(linesep="\r\n"),
            )
            for message in batch
        ]

    def enqueue_bulk(self, rendered: list[tuple[str, list[str], bytes]]) -> None:
        self.pending = rendered

    def drain(self) -> None:
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as client:
            for sender, recipients, raw in self.pending:
                client.sendmail(sender, recipients, raw)
        self.pending = []


def installed_anchors() -> list[type]:
    """The anchors this interpreter can import (found without importing them)."""
    return [anchor for anchor in ANCHORS if find_spec(anchor.app) is not None]


# What is measured, and how: one function times every job of every contender.


class Undelivered(Exception):
    """A contender did not queue, or deliver, every message of a run: no figure for it."""


def throughput(
    contender: Contender,
    count: int,
    prepare: Callable[[str], object],
    act: Callable[[object], object],
    done: Callable[[str], int],
) -> float:
    """Messages per second of one run: ``act`` on what ``prepare`` made, timed alone.

    Every run starts from empty queues, and fails unless ``done`` counts all ``count``
    messages afterwards (queued, or delivered), so nothing is timed that did not happen.
    """
    empty_queues()
    tag = new_tag()
    work = prepare(tag)
    started = time.perf_counter()
    act(work)
    elapsed = time.perf_counter() - started
    did = done(tag)
    if did != count:
        reason = contender.trouble()
        raise Undelivered(
            f"{contender.name} did {did} of {count} messages" + (f" ({reason})" if reason else "")
        )
    return count / elapsed


def enqueue_one_by_one(contender: Contender, count: int) -> float:
    def send_each(batch: list) -> None:
        for message in batch:
            contender.send_one(message)

    return throughput(
        contender, count, lambda tag: messages(count, tag), send_each, lambda _: contender.queued()
    )


def enqueue_in_bulk(contender: Contender, count: int) -> float:
    return throughput(
        contender,
        count,
        lambda tag: contender.prepare_bulk(messages(count, tag)),
        contender.enqueue_bulk,
        lambda _: contender.queued(),
    )


def drain(contender: Contender, count: int, sink: SinkProcess) -> float:
    """Drain a queue of ``count`` messages that the contender filled in bulk, untimed."""

    def fill(tag: str) -> None:
        sink.take()
        contender.enqueue_bulk(contender.prepare_bulk(messages(count, tag)))

    return throughput(contender, count, fill, lambda _: contender.drain(), sink.delivered)


def empty_queues() -> None:
    """Empty the tables of every queue, so that each run starts from the same state."""
    from django.apps import apps
    from django.core.management.color import no_style
    from django.db import connection

    labels = ["mailserver", *(anchor.app for anchor in ANCHORS)]
    tables = [
        model._meta.db_table
        for label in labels
        if apps.is_installed(label)
        for model in apps.get_app_config(label).get_models()
    ]
    connection.ops.execute_sql_flush(
        connection.ops.sql_flush(no_style(), tables, allow_cascade=True)
    )


# The sink.


class SinkProcess:
    """An ``SMTPSink`` on 127.0.0.1, in a process of its own.

    Run in the measuring process, the sink's thread would compete with the measured code
    for the GIL and slow every contender down by the sink's own work; apart, it stands in
    for a real smarthost.
    """

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    def __enter__(self) -> SinkProcess:
        self.process = start_role(
            "sink", {"delay": self.delay}, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.port = int(self.process.stdout.readline())
        return self

    def __exit__(self, *exc_info) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def take(self) -> list[tuple[str, float]]:
        """The Message-ID and arrival time of what arrived since the last call.

        Call it while nothing is being sent, since the sink then forgets them.
        """
        self.process.stdin.write("take\n")
        self.process.stdin.flush()
        return [tuple(arrival) for arrival in json.loads(self.process.stdout.readline())]

    def delivered(self, tag: str) -> int:
        return count_delivered(self.take(), tag)


def count_delivered(arrivals: list[tuple[str, float]], tag: str) -> int:
    """How many messages of run ``tag`` arrived; fail on a message twice or a stranger."""
    ids = [message_id for message_id, _ in arrivals]
    if len(set(ids)) != len(ids) or not all(i.startswith(f"<{tag}-") for i in ids):
        raise RuntimeError(f"The sink received duplicates or strangers: {sorted(ids)[:5]}")
    return len(ids)


def serve_sink(delay: float) -> None:
    """The sink's process: print its port, then answer each line of stdin with the arrivals."""
    from mailserver.test.smtpsink import SMTPSink

    with SMTPSink(delay=delay) as sink:
        print(sink.port, flush=True)
        for _ in sys.stdin:
            arrived = list(sink.messages)
            sink.clear()
            print(json.dumps([[m.message_id, m.at] for m in arrived]), flush=True)


# Django, configured once per process.


def configure(
    database: dict,
    workdir: str,
    apps: list[str] = (),
    sink_port: int | None = None,
    batch_size: int = 100,
) -> None:
    """Configure Django: the queues in ``database``, and every sender talking to the sink."""
    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY="bench-outbound",
        USE_TZ=True,
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "mailserver", *apps],
        DATABASES={"default": database},
        DEFAULT_FROM_EMAIL="shop@example.com",
        MAILSERVER_BATCH_SIZE=batch_size,
        **mail_settings(sink_port),
        **anchor_settings(workdir),
    )
    django.setup()


def mail_settings(sink_port: int | None) -> dict:
    """``send_mail()`` queues with our backend; whatever delivers talks to the sink."""
    import django

    if django.VERSION >= (6, 1):
        options = {"host": "127.0.0.1", "port": sink_port, "timeout": 30}
        return {
            "MAILERS": {
                "default": {"BACKEND": QUEUED_BACKEND},
                "delivery": {
                    "BACKEND": "mailserver.backends.smtp.DeliveryBackend",
                    "OPTIONS": options,
                },
                "smtp": {"BACKEND": SMTP_BACKEND, "OPTIONS": options},
            },
            "MAILSERVER_DELIVERY_BACKEND": "delivery",
        }
    return {
        "EMAIL_BACKEND": QUEUED_BACKEND,
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": sink_port,
        "EMAIL_TIMEOUT": 30,
    }


def anchor_settings(workdir: str) -> dict:
    """The anchors send with Django's SMTP backend, and lock in ``workdir``, not in the cwd."""
    import django

    if django.VERSION >= (6, 1):
        post_office = {"DEFAULT_MAILER": "smtp"}
    else:
        # Without BACKENDS, post_office would send through EMAIL_BACKEND: our queue.
        post_office = {"BACKENDS": {"default": SMTP_BACKEND}}
    return {
        # Their tables straight from their models (``migrate --run-syncdb``): the same
        # schema, without replaying some twenty-five migrations in every process.
        "MIGRATION_MODULES": {anchor.app: None for anchor in ANCHORS},
        "MAILER_EMAIL_BACKEND": SMTP_BACKEND,
        "MAILER_LOCK_PATH": str(Path(workdir) / "mailer"),
        # post_office joins this to the temporary directory: an absolute path wins.
        "POST_OFFICE": {**post_office, "LOCK_FILE_NAME": str(Path(workdir) / "post_office")},
        # post_office renders every message through Django's template engine.
        "TEMPLATES": [{"BACKEND": "django.template.backends.django.DjangoTemplates"}],
        # post_office logs to stderr at INFO, twice per batch, unless its logger has a handler.
        "LOGGING": {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"stderr": {"class": "logging.StreamHandler"}},
            "loggers": {"post_office": {"handlers": ["stderr"], "level": "WARNING"}},
        },
    }


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)


# The roles: each runs in a process of its own.


def start_role(role: str, arguments: dict, **popen) -> subprocess.Popen:
    """Start this script as ``role`` (a key of ``ROLES``), called with ``arguments``."""
    return subprocess.Popen(
        [sys.executable, __file__, "--role", role, json.dumps(arguments)], cwd=common.ROOT, **popen
    )


def run_role(role: str, **arguments) -> None:
    wait_all([start_role(role, arguments)])


def wait_all(processes: list[subprocess.Popen]) -> None:
    """Wait for every process; if one fails or hangs, stop the others and raise."""
    try:
        deadline = time.monotonic() + ROLE_TIMEOUT
        for process in processes:
            process.wait(timeout=max(0, deadline - time.monotonic()))
            if process.returncode:
                raise RuntimeError(f"{process.args[3]} exited with {process.returncode}")
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def in_process_figures(
    database: dict, where: str, runs: int, sizes: dict, drain_too: bool, workdir: str, out: str
) -> None:
    """Role: every figure measured inside one configured Django, written as JSON to ``out``."""
    report = Report(where)
    with ExitStack() as stack:
        sink = stack.enter_context(SinkProcess()) if drain_too else None
        anchors = installed_anchors()
        configure(database, workdir, [a.app for a in anchors], sink.port if sink else None)
        migrate()
        add_figures(report, where, runs, Sizes(**sizes), [a() for a in anchors], sink)
    results = {"figures": [asdict(figure) for figure in report.figures], "notes": report.notes}
    Path(out).write_text(json.dumps(results))


def add_figures(
    report: Report,
    where: str,
    runs: int,
    sizes: Sizes,
    anchors: list,
    sink: SinkProcess | None,
) -> None:
    """Ours against each anchor, job by job; ours alone where there is no anchor."""
    jobs = [
        ("enqueue one by one", partial(enqueue_one_by_one, count=sizes.one_by_one), anchors),
        ("enqueue in bulk", partial(enqueue_in_bulk, count=sizes.bulk), anchors),
    ]
    if sink is not None:
        measure = partial(drain, count=sizes.drain, sink=sink)
        jobs.append(("drain, 1 worker", measure, [*anchors, Ceiling(sink.port)]))
    for title, job, baselines in jobs:
        name = f"{title}, {where}"
        ours = partial(job, Ours())
        count = job.keywords["count"]
        for baseline in baselines:
            target = TARGETS.get((title, baseline.name), "")
            measure = partial(
                compared, name, UNIT, ours, partial(job, baseline), runs, baseline.name, target
            )
            add_measured(report, f"{name}, against {baseline.name}", measure, count)
        if not baselines:
            add_measured(report, name, partial(alone, name, ours, runs), count)


def alone(name: str, ours: Callable[[], float], runs: int) -> Figure:
    """Ours alone, where no anchor is installed to compare with."""
    return Figure(name, UNIT, repeat(ours, runs))


def add_measured(report: Report, label: str, measure: Callable[[], Figure], count: int) -> None:
    """Add the figure that ``measure`` returns, of ``count`` messages per run."""
    with losses_noted(report, label):
        figure = measure()
        figure.details["messages_per_run"] = count
        report.add(figure)


@contextmanager
def losses_noted(report: Report, name: str):
    """Leave out a figure in which a contender lost messages, with a note that says so."""
    try:
        yield
    except Undelivered as exc:
        report.note(f"NOT MEASURED: {name}: {exc}.")


def fill_queue(database: dict, workdir: str, count: int, tag: str) -> None:
    """Role: migrate ``database`` and queue ``count`` messages in it."""
    configure(database, workdir)
    migrate()
    from mailserver.outbound import enqueue_many

    enqueue_many(messages(count, tag))


def drain_queue(database: dict, workdir: str, port: int) -> None:
    """Role: one worker draining ``database`` to the sink at ``port``."""
    # Small batches spread the work over all workers (one batch is one connection).
    configure(database, workdir, sink_port=port, batch_size=10)
    from mailserver.outbound import Worker

    Worker().drain()


ROLES = {
    "sink": serve_sink,
    "figures": in_process_figures,
    "fill": fill_queue,
    "drain": drain_queue,
}


# PostgreSQL.


@dataclass(frozen=True)
class FilledQueue:
    """A database of ``count`` messages queued by run ``tag``; the workers drain copies."""

    database: str
    tag: str
    count: int


@contextmanager
def filled_queues(admin, workdir: str, counts: list[int]):
    """One database per count, holding that many queued messages, filled side by side.

    Copying a filled database takes a fraction of a second; migrating and filling a new
    one for every run would take longer than the runs themselves.
    """
    with ExitStack() as stack:
        queues = [
            FilledQueue(
                stack.enter_context(common.throwaway_database(admin, "bench_outbound")),
                new_tag(),
                count,
            )
            for count in counts
        ]
        wait_all(
            [
                start_role(
                    "fill",
                    {
                        "database": common.postgres_settings(queue.database),
                        "workdir": workdir,
                        "count": queue.count,
                        "tag": queue.tag,
                    },
                )
                for queue in queues
            ]
        )
        yield queues


def drain_by_workers(
    admin, queue: FilledQueue, workers: int, sink: SinkProcess, workdir: str, walls: list
) -> float:
    """Drain a copy of ``queue`` with ``workers`` processes and return the steady rate.

    Append the rate over the wall clock, with the processes' start-up, to ``walls``.
    """
    with common.throwaway_database(admin, "bench_outbound", template=queue.database) as name:
        arguments = {
            "database": common.postgres_settings(name),
            "workdir": workdir,
            "port": sink.port,
        }
        sink.take()
        started = time.perf_counter()
        wait_all([start_role("drain", arguments) for _ in range(workers)])
        elapsed = time.perf_counter() - started
    arrivals = sink.take()
    delivered = count_delivered(arrivals, queue.tag)
    if delivered != queue.count:
        raise Undelivered(f"{workers} workers delivered {delivered} of {queue.count} messages")
    walls.append(queue.count / elapsed)
    return steady_rate([at for _, at in arrivals])


def steady_rate(arrivals: list[float]) -> float:
    """Messages per second at the sink, from the first tenth of the arrivals to the last.

    This leaves out the workers' staggered start (each is a new process) and the tail,
    where the last batches keep fewer workers busy: neither happens to long-running
    workers under a steady load.
    """
    times = sorted(arrivals)
    first, last = len(times) // 10, len(times) - 1 - len(times) // 10
    return (last - first) / (times[last] - times[first])


def worker_figures(admin, runs: int, count: int, workdir: str) -> list[Figure]:
    """4 workers against 1 on PostgreSQL, to a sink that takes 20 ms per message.

    Four workers drain twice as many messages, so that all four are busy for a while.
    The target is for the steady state; the wall clock also counts each worker's
    start-up (a new Python with Django), which a long-running worker pays once.
    """
    walls: dict[int, list[float]] = {1: [], 4: []}
    with (
        SinkProcess(delay=SMARTHOST_DELAY) as sink,
        filled_queues(admin, workdir, [count, count * 2]) as (one, four),
    ):
        drains = {
            n: partial(drain_by_workers, admin, queue, n, sink, workdir, walls[n])
            for n, queue in ((1, one), (4, four))
        }
        fours, ones, ratio = compare(drains[4], drains[1], runs)
    details = {"messages_per_run": {"1 worker": count, "4 workers": count * 2}}
    steady = Figure(f"{WORKERS} (steady)", UNIT, fours, ones, "1 worker", ratio, ">= 3")
    wall = Figure(
        f"{WORKERS} (wall clock)",
        UNIT,
        Spread.of(walls[4]),
        Spread.of(walls[1]),
        "1 worker",
        Spread.of(map(truediv, walls[4], walls[1])),
    )
    steady.details = wall.details = details
    return [steady, wall]


# The run.


def figures_in(
    report: Report,
    database: dict,
    where: str,
    runs: int,
    sizes: Sizes,
    drain_too: bool,
    workdir: str,
) -> None:
    """Measure the in-process figures in a process configured for ``database``.

    That process prints each figure as it is measured, so they are not printed again here.
    """
    out = Path(workdir) / "figures.json"
    run_role(
        "figures",
        database=database,
        where=where,
        runs=runs,
        sizes=asdict(sizes),
        drain_too=drain_too,
        workdir=workdir,
        out=str(out),
    )
    results = json.loads(out.read_text())
    report.figures += [figure_from(data) for data in results["figures"]]
    report.notes += results["notes"]


def figure_from(data: dict) -> Figure:
    spreads = {key: Spread(**data[key]) for key in ("ours", "baseline", "ratio") if data[key]}
    return Figure(**{**data, **spreads})


def postgres_figures(report: Report, runs: int, sizes: Sizes, workdir: str) -> None:
    try:
        import psycopg

        admin = psycopg.connect(dbname="postgres", autocommit=True, **common.POSTGRES)
    except Exception as exc:  # no driver, no server: the SQLite figures still stand
        report.note(f"PostgreSQL figures skipped: {' '.join(str(exc).split())}")
        return
    with admin:
        with common.throwaway_database(admin, "bench_outbound") as name:
            database = common.postgres_settings(name)
            figures_in(report, database, "PostgreSQL", runs, sizes, False, workdir)
        with losses_noted(report, WORKERS):
            for figure in worker_figures(admin, runs, sizes.workers, workdir):
                report.add(figure)


def main() -> None:
    options = common.arguments(__doc__.splitlines()[0], runs=5, quick_runs=1)
    sizes = QUICK if options.quick else FULL
    report = Report(f"Outbound queue ({UNIT}): {__doc__.splitlines()[0]}")
    installed = installed_anchors()
    for anchor in ANCHORS:
        if anchor not in installed:
            report.note(f"{anchor.name} is not importable here: its figures are left out.")
    with tempfile.TemporaryDirectory(prefix="bench-outbound-") as workdir:
        sqlite = {**SQLITE, "NAME": str(Path(workdir) / "queue.sqlite3")}
        figures_in(report, sqlite, "SQLite", options.runs, sizes, True, workdir)
        postgres_figures(report, options.runs, sizes, workdir)
    common.finish(report, options)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--role"]:
        ROLES[sys.argv[2]](**json.loads(sys.argv[3]))
    else:
        main()
