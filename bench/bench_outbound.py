"""Measure the outbound queue: enqueue rates and drain rates.

Run it from the repository root::

    python bench/bench_outbound.py            # full run (about a minute and a half)
    python bench/bench_outbound.py --quick    # a smoke run of a few seconds
    python bench/bench_outbound.py --json results.json

Figures, in messages per second:

* enqueue one by one: ``send_mail()`` with ``QueuedEmailBackend`` (one transaction each);
* enqueue in bulk: ``enqueue_many()``;
* drain with one worker to an instant local sink (SQLite);
* drain with 1 and with 4 worker processes on PostgreSQL (127.0.0.1:5432, user
  postgres) to a sink that waits 20 ms per message, as a real smarthost does.

If django-mailer is importable (install it in the benchmark's own environment, never
as a dependency of ours: ``pip install django-mailer``), its enqueue and drain are
measured on the same messages and the same sink for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

PG = {"HOST": "127.0.0.1", "PORT": 5432, "USER": "postgres"}


def configure(
    database: dict, sink_port: int | None = None, with_mailer: bool = False, batch: int = 100
) -> None:
    apps = ["django.contrib.contenttypes", "django.contrib.auth", "mailserver"]
    if with_mailer:
        apps.append("mailer")
    options = {}
    if sink_port is not None:
        if django.VERSION >= (6, 1):
            options["MAILERS"] = {
                "default": {"BACKEND": "mailserver.backends.QueuedEmailBackend"},
                "delivery": {
                    "BACKEND": "mailserver.backends.smtp.DeliveryBackend",
                    "OPTIONS": {"host": "127.0.0.1", "port": sink_port},
                },
            }
            options["MAILSERVER_DELIVERY_BACKEND"] = "delivery"
        else:
            options.update(
                EMAIL_BACKEND="mailserver.backends.QueuedEmailBackend",
                EMAIL_HOST="127.0.0.1",
                EMAIL_PORT=sink_port,
                # django-mailer sends through this one.
                MAILER_EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            )
    settings.configure(
        SECRET_KEY="bench-outbound",
        USE_TZ=True,
        INSTALLED_APPS=apps,
        DATABASES={"default": database},
        DEFAULT_FROM_EMAIL="site@example.com",
        MAILSERVER_BATCH_SIZE=batch,
        **options,
    )
    django.setup()


def messages(count: int, tag: str):
    from django.core.mail import EmailMessage

    return [
        EmailMessage(
            f"Announcement {n}",
            "Hello,\n\nThis is the body of a typical notification mail.\n" * 5,
            "Site <site@example.com>",
            [f"user{n}@example.net"],
            headers={"Message-ID": f"<{tag}-{n}@bench>"},
        )
        for n in range(count)
    ]


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds else float("inf")


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)


def bench_enqueue(count: int) -> dict:
    from django.core.mail import send_mail

    from mailserver.outbound import enqueue_many

    tag = uuid.uuid4().hex[:6]
    started = time.perf_counter()
    for n in range(count):
        send_mail(f"One {n}", "Body", "site@example.com", [f"u{n}@example.net"])
    one_by_one = rate(count, time.perf_counter() - started)
    batch = messages(count * 5, tag)
    started = time.perf_counter()
    enqueue_many(batch)
    bulk = rate(len(batch), time.perf_counter() - started)
    return {"enqueue_one_by_one": one_by_one, "enqueue_bulk": bulk}


def bench_drain_sqlite(count: int) -> dict:
    from mailserver.models import OutboundMessage
    from mailserver.outbound import enqueue_many
    from mailserver.outbound.worker import Worker

    OutboundMessage.objects.all().delete()
    enqueue_many(messages(count, uuid.uuid4().hex[:6]))
    started = time.perf_counter()
    stats = Worker().drain()
    assert stats.counts["sent"] == count, stats
    return {"drain_1_worker_sqlite": rate(count, time.perf_counter() - started)}


def bench_mailer(count: int) -> dict:
    """django-mailer on the same messages: its enqueue, bulk enqueue and send_all()."""
    import mailer
    from mailer import engine
    from mailer.models import Message

    started = time.perf_counter()
    for n in range(count):
        mailer.send_mail(f"One {n}", "Body", "site@example.com", [f"u{n}@example.net"])
    one_by_one = rate(count, time.perf_counter() - started)
    Message.objects.all().delete()
    batch = messages(count * 5, uuid.uuid4().hex[:6])
    started = time.perf_counter()
    Message.objects.bulk_create([Message(email=m) for m in batch])
    bulk = rate(len(batch), time.perf_counter() - started)
    Message.objects.all().delete()
    Message.objects.bulk_create([Message(email=m) for m in messages(count, "mailer")])
    started = time.perf_counter()
    engine.send_all()
    drain = rate(count, time.perf_counter() - started)
    return {
        "django_mailer_enqueue_one_by_one": one_by_one,
        "django_mailer_enqueue_bulk": bulk,
        "django_mailer_drain_1_worker_sqlite": drain,
    }


def bench_drain_postgres(count: int, workers: int, sink) -> tuple[float, float]:
    """Drain ``count`` messages with ``workers`` processes.

    Return messages per second over the wall clock (with the processes' start-up)
    and over the sink's first to last arrival (steady state).
    """
    import psycopg

    name = f"bench_outbound_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(
        dbname="postgres", host=PG["HOST"], port=PG["PORT"], user=PG["USER"], autocommit=True
    )
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        role(["setup", name, str(count)])
        sink.clear()
        started = time.perf_counter()
        procs = [role_process(["drain", name, str(sink.port)]) for _ in range(workers)]
        for proc in procs:
            proc.wait(timeout=600)
        elapsed = time.perf_counter() - started
        ids = {m.message_id for m in sink.messages}
        assert len(ids) == count == len(sink.messages), (len(ids), len(sink.messages))
        arrivals = sorted(m.at for m in sink.messages)
        return rate(count, elapsed), rate(count - 1, arrivals[-1] - arrivals[0])
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def role(args: list[str]) -> None:
    subprocess.run([sys.executable, __file__, "--role", *args], check=True, cwd=ROOT)


def role_process(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, "--role", *args], cwd=ROOT)


def run_role(args: list[str]) -> None:
    """Subprocess entry points for the PostgreSQL runs."""
    action, name, value = args
    database = {"ENGINE": "django.db.backends.postgresql", "NAME": name, **PG}
    if action == "setup":
        configure(database)
        migrate()
        from mailserver.outbound import enqueue_many

        enqueue_many(messages(int(value), "pg"))
    elif action == "drain":
        # Small batches spread the work over all workers (one batch is one connection).
        configure(database, sink_port=int(value), batch=25)
        from mailserver.outbound.worker import Worker

        Worker().drain()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--role", nargs=3, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.role:
        run_role(options.role)
        return

    from mailserver.test.smtpsink import SMTPSink

    enqueue_count = 200 if options.quick else 2000
    drain_count = 200 if options.quick else 2000
    pg_count = 100 if options.quick else 1000
    try:
        import mailer  # noqa: F401

        with_mailer = True
    except ImportError:
        with_mailer = False

    results: dict = {"django": django.get_version(), "python": sys.version.split()[0]}
    with tempfile.TemporaryDirectory() as tmp, SMTPSink() as sink:
        database = {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(tmp, "q.db")}
        configure(database, sink_port=sink.port, with_mailer=with_mailer)
        migrate()
        results.update(bench_enqueue(enqueue_count))
        results.update(bench_drain_sqlite(drain_count))
        if with_mailer:
            results.update(bench_mailer(drain_count))
    with SMTPSink(delay=0.02) as slow_sink:
        try:
            one, one_steady = bench_drain_postgres(pg_count, 1, slow_sink)
            four, four_steady = bench_drain_postgres(pg_count * 2, 4, slow_sink)
            results.update(
                drain_1_worker_postgres_20ms=one,
                drain_4_workers_postgres_20ms=four,
                speedup_4_workers=round(four / one, 2),
                drain_1_worker_postgres_20ms_steady=one_steady,
                drain_4_workers_postgres_20ms_steady=four_steady,
                speedup_4_workers_steady=round(four_steady / one_steady, 2),
            )
        except Exception as exc:  # no PostgreSQL: report, do not fail the rest
            results["postgres"] = f"skipped: {exc}"
    width = max(map(len, results))
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    if options.json:
        Path(options.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
