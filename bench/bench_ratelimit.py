"""Rate-limit accuracy: two ``runmailqueue`` workers sharing ``MAILSERVER_RATE_LIMIT = "50/s"``.

Run it from the repository root::

    python bench/bench_ratelimit.py            # 3 runs of a 30 s window (about 2 minutes)
    python bench/bench_ratelimit.py --quick    # 1 run of a 5 s window (about 10 s)
    python bench/bench_ratelimit.py --runs 1 --json results.json

Each run queues more mail than the window can send (``enqueue_many``) in a scratch
PostgreSQL database (127.0.0.1:5432, user postgres, dropped afterwards), starts two
``runmailqueue`` processes that deliver to an SMTPSink in this process, and stops them
by PID with SIGTERM once the window has passed since the first arrival. From the
sink's arrival times (wall clock, so the figures hold on a busy machine):

* the achieved rate over the window, and over its last four fifths (once the full
  bucket of the start is spent); target 50/s ± 5 %;
* the most messages that arrived in any sliding 1-second window. A bucket holds one
  second's worth of tokens (``throttle.parse_rate``: the burst is 50 at 50/s) and
  starts full, so at most rate + burst = 100 may arrive in one second;
* messages the sink received twice (by Message-ID), and messages it received that
  the queue does not record as sent (they would go out again): both must be 0.

To tell the throttle's faults from the machine's, the arrivals are also replayed
through an exact token bucket: how far they ran ahead of it (too many let through;
a message or two is delivery jitter) and how many tokens they left unused (the
workers could not keep up), next to the share of the window the workers ran on a
CPU and waited for one (/proc/PID/schedstat).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import common
from common import Figure, Report, Spread

RATE = 50
BURST = RATE  # throttle.parse_rate: one second's worth of tokens, at least one
WORKERS = 2
TOLERANCE = 0.05
SETTLE = 0.2  # the share of the window in which the full bucket of the start is spent
STOP_TIMEOUT = 15
MUST_BE_NONE = {
    "duplicates": "received twice (Message-ID)",
    "unrecorded": "received, not marked sent",
}


# Helpers shared with bench_queue_memory -------------------------------------------------


def delivery_settings(port: int) -> dict:
    """Settings that make the queue deliver over SMTP to 127.0.0.1:``port``."""
    import django

    if django.VERSION >= (6, 1):
        return {
            "MAILERS": {
                "default": {"BACKEND": "mailserver.backends.QueuedEmailBackend"},
                "delivery": {
                    "BACKEND": "mailserver.backends.smtp.DeliveryBackend",
                    "OPTIONS": {"host": "127.0.0.1", "port": port},
                },
            },
            "MAILSERVER_DELIVERY_BACKEND": "delivery",
        }
    return {"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": port}


def configure(database: dict, **extra) -> None:
    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY="bench",
        USE_TZ=True,
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "mailserver"],
        DATABASES={"default": database},
        DEFAULT_FROM_EMAIL="site@example.com",
        **extra,
    )
    django.setup()


def enqueue(count: int, tag: str, batch: int = 1000) -> None:
    """Migrate, then queue ``count`` one-recipient notifications, ``batch`` per transaction."""
    from django.core.mail import EmailMessage
    from django.core.management import call_command

    from mailserver.outbound import enqueue_many

    call_command("migrate", run_syncdb=True, verbosity=0)
    body = "Hello,\n\nThis is the body of a typical notification mail.\n" * 5
    for start in range(0, count, batch):
        enqueue_many(
            EmailMessage(
                f"Announcement {n}",
                body,
                "Site <site@example.com>",
                [f"user{n}@example.net"],
                headers={"Message-ID": f"<{tag}-{n}@bench>"},
            )
            for n in range(start, min(start + batch, count))
        )


def run_worker() -> None:
    """Run ``manage.py runmailqueue`` itself, its SIGTERM handling included."""
    from django.core.management import call_command

    call_command("runmailqueue", verbosity=0)


def role_process(script: str, *args) -> subprocess.Popen:
    """Start ``script --role args…``; the child configures Django for itself."""
    return subprocess.Popen([sys.executable, script, "--role", *map(str, args)], cwd=common.ROOT)


def role(script: str, *args) -> None:
    subprocess.run([sys.executable, script, "--role", *map(str, args)], check=True)


def stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM each process by PID, wait for it, and SIGKILL one that will not stop."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def check_running(procs: list[subprocess.Popen]) -> None:
    dead = [proc.args for proc in procs if proc.poll() is not None]
    if dead:
        raise RuntimeError(f"A child process exited early: {dead}")


# Running the workers ---------------------------------------------------------------------


def run_role(args: list[str]) -> None:
    action, name, value = args
    if action == "setup":
        configure(common.postgres_settings(name))
        enqueue(int(value), tag=name)
    elif action == "worker":
        port = int(value)
        configure(
            common.postgres_settings(name),
            MAILSERVER_RATE_LIMIT=f"{RATE}/s",
            **delivery_settings(port),
        )
        run_worker()


@contextmanager
def scratch_database():
    """Create a throwaway PostgreSQL database and drop it afterwards, whatever happens."""
    import psycopg

    with (
        psycopg.connect(dbname="postgres", autocommit=True, **common.POSTGRES) as admin,
        common.throwaway_database(admin, "bench_ratelimit") as name,
    ):
        yield name


def recorded_as_sent(name: str) -> int:
    import psycopg

    with psycopg.connect(dbname=name, **common.POSTGRES) as connection:
        query = "SELECT count(*) FROM mailserver_outboundmessage WHERE status = 'sent'"
        return connection.execute(query).fetchone()[0]


def first_arrival(sink, workers: list[subprocess.Popen], timeout: float = 60) -> float:
    """Wait for the sink's first message: the workers' start-up is not in the window."""
    deadline = time.monotonic() + timeout
    while not sink.messages:
        check_running(workers)
        if time.monotonic() > deadline:
            raise RuntimeError(f"Nothing arrived within {timeout} s")
        time.sleep(0.01)
    return sink.messages[0].at


def scheduled(pids: list[int]) -> tuple[float, float]:
    """Seconds the processes ``pids`` ran on a CPU, and waited for one (/proc/PID/schedstat)."""
    running = waiting = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            on_cpu, on_queue, _ = (task / "schedstat").read_text().split()
            running, waiting = running + int(on_cpu), waiting + int(on_queue)
    return running / 1e9, waiting / 1e9


def measure(window: float) -> dict:
    """One run: queue mail, let two workers send it for ``window`` seconds, read the sink."""
    from mailserver.test.smtpsink import SMTPSink

    count = int(RATE * (window + 10))
    with scratch_database() as name, SMTPSink() as sink:
        role(__file__, "setup", name, count)
        workers = []
        try:
            workers = [role_process(__file__, "worker", name, sink.port) for _ in range(WORKERS)]
            start = first_arrival(sink, workers)
            pids = [worker.pid for worker in workers]
            before = scheduled(pids)
            while time.monotonic() < start + window:
                check_running(workers)
                time.sleep(0.1)
            after = scheduled(pids)
        finally:
            stop(workers)
        received = list(sink.messages)
        if len(received) >= count:
            raise RuntimeError("The queue ran dry inside the window: queue more mail.")
        ids = {message.message_id for message in received}
        cpu, cpu_wait = (late - early for early, late in zip(before, after, strict=True))
        return {
            **analyse(sorted(message.at - start for message in received), window),
            "received": len(received),
            "duplicates": len(received) - len(ids),
            "unrecorded": len(ids) - recorded_as_sent(name),
            "cpu": 100 * cpu / window / WORKERS,
            "cpu_wait": 100 * cpu_wait / window / WORKERS,
        }


# What the arrivals say -------------------------------------------------------------------


def busiest_second(times: list[float]) -> int:
    """The most of the sorted ``times`` that fall within any one second."""
    most = left = 0
    for right, at in enumerate(times):
        while times[left] <= at - 1.0:
            left += 1
        most = max(most, right - left + 1)
    return most


def replay(times: list[float]) -> tuple[float, float]:
    """Replay sorted arrival ``times`` through an exact bucket of RATE and BURST, full at first.

    Return how many messages they ran ahead of it at worst (the throttle let too
    many through) and how many tokens overflowed it unused (the workers sent less
    than they were allowed).
    """
    level = lowest = float(BURST)
    unused, last = 0.0, times[0]
    for at in times:
        level += (at - last) * RATE
        unused += max(0.0, level - BURST)
        level = min(level, BURST) - 1
        lowest, last = min(lowest, level), at
    return max(0.0, -lowest), unused


def analyse(arrivals: list[float], window: float) -> dict:
    """Rates, the busiest second, and the exact bucket's replay of ``arrivals`` (from 0)."""
    inside = [at for at in arrivals if at < window]
    settled = [at for at in inside if at >= window * SETTLE]
    ahead, unused = replay(inside)
    return {
        "rate": len(inside) / window,
        "steady_rate": len(settled) / (window * (1 - SETTLE)),
        "busiest_second": busiest_second(inside),
        "busiest_steady_second": busiest_second(settled),
        "ahead": ahead,
        "unused_rate": unused / window,
        "per_second": [sum(1 for at in inside if int(at) == n) for n in range(int(window))],
    }


def check_computed(results: list[dict]) -> None:
    """Fail loudly rather than report a figure that was not measured (the smoke run's job)."""
    for result in results:
        if not (result["rate"] > 0 and result["steady_rate"] > 0 and result["busiest_second"]):
            raise SystemExit(f"bench_ratelimit measured nothing: {result}")


# The report ------------------------------------------------------------------------------


def within(spread: Spread) -> bool:
    return RATE * (1 - TOLERANCE) <= spread.low and spread.high <= RATE * (1 + TOLERANCE)


def report(results: list[dict], window: float) -> Report:
    """The table: rates held to 50/s ± 5 %, the busiest second to rate + burst."""

    def spread(key: str) -> Spread:
        return Spread.of(result[key] for result in results)

    def add(name: str, unit: str, key: str, target: str = "", met: bool | None = None) -> None:
        report.add(Figure(name, unit, spread(key), target=target, met=met))

    settled = f"last {1 - SETTLE:.0%} of the window"
    band = f"{RATE} ± {TOLERANCE:.0%}"
    # The full bucket of the start adds BURST / window to the whole window's rate, and
    # takes a second or more to spend: a short (smoke) window cannot be held to the band.
    judged = BURST / window <= RATE * TOLERANCE
    report = Report(f"Rate limit {RATE}/s, {WORKERS} workers, PostgreSQL, {window:g} s window")
    for name, key in [("whole window", "rate"), (settled, "steady_rate")]:
        add(f"achieved rate, {name}", "msg/s", key, band, within(spread(key)) if judged else None)
    bound = RATE + BURST
    busiest_met = spread("busiest_second").high <= bound
    add(
        "most in any 1 s window",
        "msg",
        "busiest_second",
        f"<= {bound} = rate + burst",
        busiest_met,
    )
    add(f"most in any 1 s window, {settled}", "msg", "busiest_steady_second")
    add(f"most ahead of an exact {RATE}/s bucket", "msg", "ahead")
    add("tokens left unused (workers too slow)", "msg/s", "unused_rate")
    add("workers ran on a CPU (each)", "%", "cpu")
    add("workers waited for a CPU (each)", "%", "cpu_wait")
    for key, name in MUST_BE_NONE.items():
        add(name, "msg", key, "<= 0", spread(key).high <= 0)
    report.note(
        f"Burst: a bucket holds one second's worth of tokens ({BURST} at {RATE}/s) and starts "
        f"full, so the whole window may reach {RATE} + {BURST}/{window:g} s = "
        f"{RATE + BURST / window:.1f} msg/s"
        + ("." if judged else "; the rates are not judged in so short a window.")
    )
    for result in results:
        report.note(diagnosis(result))
    return report


def diagnosis(result: dict) -> str:
    """One run's arrivals per second, and who is to blame if the rate fell short."""
    text = f"Received {result['received']}; per second: {result['per_second']}."
    if result["steady_rate"] < RATE * (1 - TOLERANCE) and result["unused_rate"] > 0:
        text += (
            f" Short of {RATE}/s with {result['unused_rate']:.1f} tokens/s unused while each"
            f" worker waited for a CPU {result['cpu_wait']:.0f} % of the window: the machine"
            " was too busy to judge the rate (the upper bounds still hold)."
        )
    return text


def main() -> None:
    if sys.argv[1:2] == ["--role"]:
        run_role(sys.argv[2:])
        return
    options = common.arguments(__doc__.splitlines()[0], runs=3, quick_runs=1)
    window = 5.0 if options.quick else 30.0
    results = [measure(window) for _ in range(options.runs)]
    check_computed(results)
    common.finish(report(results, window), options)


if __name__ == "__main__":
    main()
