"""Memory of ``runmailqueue`` draining a long queue: it must not grow with the queue's length.

Run it from the repository root::

    python bench/bench_queue_memory.py                  # 20,000 messages: 1 to 2.5 minutes
    python bench/bench_queue_memory.py --count 100000   # the documented figure: 8 to 15 minutes
    python bench/bench_queue_memory.py --quick          # 2,000 messages, a smoke run: 15-30 s

``--count`` messages are bulk-queued (``enqueue_many``, 1,000 per transaction) in a
SQLite file in WAL mode, then one ``runmailqueue`` process sends them all to an
instant SMTP sink in another process, which only counts them (SMTPSink would keep
every message) and the Message-IDs it saw twice. The worker's VmRSS is read from
/proc every 0.5 s; figures: its peak (VmHWM), its RSS once 10 % of the queue is sent
and at the end, the growth between the two (target: at most 3 MiB, i.e. flat), and
the drain rate. The documented figure is 100,000 messages; ``make bench`` drains
20,000 because the drain runs at 140 to 350 messages/s here, as the load allows.
The worker's RSS rises by a few MiB over its first ~10,000 messages (caches filling;
SQLite's own page cache alone may take 2 MB) and then stays flat, so a small
``--count`` overstates the growth.

Why SQLite: it is the one-worker case we measure (SQLite allows one worker), and its
engine and page cache live inside the worker process, so they count against the
worker's memory; PostgreSQL would keep its share in the server's processes. The
queue is a temporary file, removed afterwards; nothing but 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import socket
import sys
import tempfile
import time
from pathlib import Path

import common
from bench_ratelimit import (
    configure,
    delivery_settings,
    enqueue,
    role,
    role_process,
    run_worker,
    stop,
)
from common import Figure, Report, Spread

COUNT = 20_000  # the documented figure is --count 100000
QUICK_COUNT = 2_000
SAMPLE_EVERY = 0.5
FIRST_SHARE = 0.1
FLAT_MIB = 3.0
MIN_RATE = 20  # msg/s: below this a run is stopped rather than left to run for hours
MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


# The sink: a process of its own that counts --------------------------------------------


class CountingHandler:
    """aiosmtpd handler: count messages, remember Message-IDs to spot duplicates."""

    def __init__(self, received, duplicates, first, last) -> None:
        self.received, self.duplicates, self.first, self.last = received, duplicates, first, last
        self.seen: set[bytes] = set()

    async def handle_DATA(self, server, session, envelope):
        match = MESSAGE_ID.search(envelope.original_content or envelope.content)
        message_id = match.group(1) if match else b""
        if message_id in self.seen:
            self.duplicates.value += 1
        self.seen.add(message_id)
        now = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process
        if not self.received.value:
            self.first.value = now
        self.last.value = now
        self.received.value += 1
        return "250 2.0.0 Counted"


def serve_sink(port: int, counter_values: tuple) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(CountingHandler(*counter_values), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Sink:
    """The counting sink in a child process; its numbers are shared memory."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.port = free_port()
        self.values = tuple(context.Value(kind, lock=False) for kind in "qqdd")
        self.process = context.Process(target=serve_sink, args=(self.port, self.values))

    received = property(lambda self: self.values[0].value)
    duplicates = property(lambda self: self.values[1].value)
    seconds = property(lambda self: self.values[3].value - self.values[2].value)

    def __enter__(self) -> Sink:
        self.process.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.process.terminate()  # SIGTERM by PID
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


# The worker ------------------------------------------------------------------------------


def database(path: str) -> dict:
    # WAL with synchronous=NORMAL, as SQLite advises for WAL: a commit waits for no fsync,
    # which would otherwise set the pace (and the run's length), not the worker's memory.
    options = {"init_command": "PRAGMA synchronous=NORMAL"}
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": path, "OPTIONS": options}


def run_role(args: list[str]) -> None:
    action, path, value = args
    if action == "setup":
        configure(database(path))
        from django.db import connection

        with connection.cursor() as cursor:  # persistent: the worker's connection uses it too
            cursor.execute("PRAGMA journal_mode=WAL")
        enqueue(int(value), tag="memory")
    elif action == "worker":
        configure(database(path), **delivery_settings(int(value)))
        run_worker()


def memory_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


def watch(worker, sink: Sink, count: int) -> list[tuple[int, int]]:
    """Sample (messages received, worker RSS KiB) every SAMPLE_EVERY s until all arrive."""
    samples = []
    deadline = time.monotonic() + 60 + count / MIN_RATE
    while True:
        if worker.poll() is not None:
            raise RuntimeError(f"The worker exited early ({worker.returncode})")
        if time.monotonic() > deadline:
            raise RuntimeError(f"Only {sink.received} of {count} sent in time")
        received = sink.received
        samples.append((received, memory_kib(worker.pid)))
        if received >= count:
            return samples
        time.sleep(SAMPLE_EVERY)


def measure(count: int) -> dict:
    """One run: queue ``count`` messages, drain them with one worker, sample its RSS."""
    with tempfile.TemporaryDirectory(prefix="bench-queue-memory-") as tmp:
        path = str(Path(tmp) / "queue.sqlite3")
        role(__file__, "setup", path, count)
        with Sink() as sink:
            worker = role_process(__file__, "worker", path, sink.port)
            try:
                samples = watch(worker, sink, count)
                peak = memory_kib(worker.pid, "VmHWM")
            finally:
                stop([worker])
            return summarise(samples, peak, sink, count)


def rss_at(samples: list[tuple[int, int]], received: float) -> int:
    """The first RSS sampled once ``received`` messages had arrived."""
    return next(rss for arrived, rss in samples if arrived >= received)


def summarise(samples: list[tuple[int, int]], peak: int, sink: Sink, count: int) -> dict:
    mib = 1024
    first, end = rss_at(samples, count * FIRST_SHARE), samples[-1][1]
    by_tenth = {
        f"{t * 10}%": round(rss_at(samples, count * t / 10) / mib, 1) for t in range(1, 11)
    }
    return {
        "peak": peak / mib,
        "first": first / mib,
        "end": end / mib,
        "growth": (end - first) / mib,
        "rate": (sink.received - 1) / sink.seconds,
        "duplicates": sink.duplicates,
        "received": sink.received,
        "rss_by_share_sent_mib": by_tenth,
        "samples": len(samples),
    }


def report(results: list[dict], count: int) -> Report:
    """The table: peak, first tenth, end, their difference held to FLAT_MIB, drain rate."""

    def spread(key: str) -> Spread:
        return Spread.of(result[key] for result in results)

    growth = spread("growth")
    duplicates = spread("duplicates")
    # Warm-up still shows in a smoke run's first tenth (see the docstring): not judged.
    judged = count >= COUNT
    details = {"rss_by_share_sent_mib": [result["rss_by_share_sent_mib"] for result in results]}
    report = Report(f"runmailqueue memory, {count:,} messages, SQLite (WAL), one worker")
    report.add(Figure("peak RSS (VmHWM)", "MiB", spread("peak"), details=details))
    report.add(Figure(f"RSS after the first {FIRST_SHARE:.0%} sent", "MiB", spread("first")))
    report.add(Figure("RSS at the end", "MiB", spread("end")))
    report.add(
        Figure(
            f"RSS growth, {FIRST_SHARE:.0%} → 100 %",
            "MiB",
            growth,
            target=f"flat: <= {FLAT_MIB:g}",
            met=growth.high <= FLAT_MIB if judged else None,
        )
    )
    report.add(Figure("drain rate", "msg/s", spread("rate")))
    report.add(
        Figure(
            "received twice (Message-ID)",
            "msg",
            duplicates,
            target="<= 0",
            met=duplicates.high <= 0,
        )
    )
    for result in results:
        report.note(f"RSS (MiB) by share sent: {result['rss_by_share_sent_mib']}")
    return report


def main() -> None:
    if sys.argv[1:2] == ["--role"]:
        run_role(sys.argv[2:])
        return
    options = common.arguments(__doc__.splitlines()[0], runs=1, quick_runs=1)
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--count", type=int, default=QUICK_COUNT if options.quick else COUNT)
    count = extra.parse_known_args()[0].count
    results = [measure(count) for _ in range(options.runs)]
    if not all(result["received"] == count and result["rate"] > 0 for result in results):
        raise SystemExit(f"bench_queue_memory measured nothing: {results}")
    common.finish(report(results, count), options)


if __name__ == "__main__":
    main()
