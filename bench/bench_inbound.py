"""Messages per second through ``runmailserver`` next to a bare aiosmtpd server.

Each server runs in its own process; clients run in other processes, one SMTP
connection each, sending messages back to back (smtplib, one transaction per
message). Our server runs a trivial view with storage on (SQLite in WAL mode,
the commits of concurrent sessions grouped); the bare server is aiosmtpd with a
handler that answers 250 and keeps nothing. Both are measured in the same run,
with 1 and 8 clients, on 2 KB and 100 KB messages.

    python bench/bench_inbound.py [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import smtplib
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SIZES = {"2 KB": 2 * 1024, "100 KB": 100 * 1024}
CLIENTS = (1, 8)


# The mailconf of the benchmark: one trivial view. ROOT_MAILCONF is this module.
def noop(request):
    return None


def _mailpatterns():
    from mailserver.routing import route

    return [route("bench@example.com", noop, name="bench")]


def __getattr__(name):
    if name == "mailpatterns":
        return _mailpatterns()
    raise AttributeError(name)


def make_message(size: int, number: int, client: int) -> bytes:
    head = (
        "From: Bench <bench-client@example.org>\r\nTo: bench@example.com\r\n"
        f"Subject: Benchmark {client}-{number}\r\n"
        f"Message-ID: <{client}.{number}.{os.getpid()}.{time.monotonic_ns()}@bench>\r\n"
        "Date: Mon, 2 Jan 2023 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    ).encode()
    line = b"The quick brown fox jumps over the lazy dog, again and again.\r\n"
    body = line * max(1, (size - len(head)) // len(line))
    return head + body


# Servers ------------------------------------------------------------------------


def _setup_django(directory: str, store: bool = True) -> None:
    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "mailserver"],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": os.path.join(directory, "bench.sqlite3"),
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


def run_server(kind: str, directory: str, ports, control) -> None:
    """Child process: start a server, report its port, report CPU time when told to stop."""
    if kind in ("ours", "ours-no-store"):
        _setup_django(directory, store=kind == "ours")
        from mailserver.ingress.server import MailServer, ServerThread

        thread = ServerThread(MailServer("127.0.0.1", 0))
        server = thread.start()
        ports.put(server.port)
    else:
        from aiosmtpd.controller import Controller

        class Bare:
            async def handle_DATA(self, server, session, envelope):
                return "250 OK"

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        controller = Controller(
            Bare(), hostname="127.0.0.1", port=port, enable_SMTPUTF8=True, decode_data=False
        )
        controller.start()
        ports.put(port)
    command = control.get()
    while command == "start":
        started = time.process_time()
        control.get()  # "stop"
        ports.put(time.process_time() - started)
        command = control.get()
    if kind == "ours-no-store":
        ports.put({})
        thread.stop()
    elif kind == "ours":
        thread.call(server.writer.flush())
        from mailserver.models.inbound import InboundMessage

        stored = InboundMessage.objects.filter(status="processed").count()
        ports.put({"stored": stored, "batches": server.writer.batches})
        thread.stop()
    else:
        ports.put({})
        controller.stop()


# Clients ------------------------------------------------------------------------


def run_client(port: int, size: int, count: int, client: int, go, done) -> None:
    messages = [make_message(size, n, client) for n in range(count)]
    error = None
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            smtp.ehlo("bench.example.org")
            go.wait()
            for raw in messages:
                smtp.sendmail("bench-client@example.org", ["bench@example.com"], raw)
    except Exception as exc:
        error = f"client {client}: {exc!r}"
    done.put(error)


def measure(ctx, port, size, clients, count, control, ports) -> dict:
    go = ctx.Event()
    done = ctx.Queue()
    per_client = max(1, count // clients)
    workers = [
        ctx.Process(target=run_client, args=(port, size, per_client, c, go, done))
        for c in range(clients)
    ]
    for worker in workers:
        worker.start()
    time.sleep(0.5)  # connections open and greeted
    control.put("start")
    started = time.perf_counter()
    go.set()
    errors = [error for error in (done.get(timeout=600) for _ in workers) if error]
    if errors:
        raise SystemExit("\n".join(errors))
    elapsed = time.perf_counter() - started
    control.put("stop")
    cpu = ports.get(timeout=60)
    for worker in workers:
        worker.join()
    total = per_client * clients
    return {
        "messages": total,
        "seconds": round(elapsed, 3),
        "msgs_per_s": round(total / elapsed, 1),
        "server_cpu_us_per_msg": round(cpu / total * 1e6),
    }


def bench_server(ctx, kind: str, directory: str, counts: dict) -> dict:
    ports, control = ctx.Queue(), ctx.Queue()
    process = ctx.Process(target=run_server, args=(kind, directory, ports, control))
    process.start()
    port = ports.get(timeout=120)
    results = {}
    for label, size in SIZES.items():
        for clients in CLIENTS:
            results[f"{label}, {clients} client{'s' * (clients > 1)}"] = measure(
                ctx, port, size, clients, counts[label], control, ports
            )
    control.put("exit")
    results["_server"] = ports.get(timeout=120)
    process.join(60)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="A smoke run of a few seconds.")
    parser.add_argument("--json", help="Also write the results to this file.")
    parser.add_argument(
        "--no-store",
        action="store_true",
        help="Also measure our server with MAILSERVER_STORE_INBOUND = False.",
    )
    args = parser.parse_args()
    counts = {"2 KB": 200, "100 KB": 80} if args.quick else {"2 KB": 3000, "100 KB": 800}
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="bench-inbound-") as directory:
        bare = bench_server(ctx, "bare", directory, counts)
        ours = bench_server(ctx, "ours", directory, counts)
        unstored = bench_server(ctx, "ours-no-store", directory, counts) if args.no_store else None
    rows = []
    print(f"{'case':<22} {'bare msg/s':>10} {'ours msg/s':>10} {'ratio':>6} "
          f"{'bare CPU µs':>11} {'ours CPU µs':>11}")  # fmt: skip
    for case in bare:
        if case.startswith("_"):
            continue
        b, o = bare[case], ours[case]
        ratio = o["msgs_per_s"] / b["msgs_per_s"]
        row = {"case": case, "bare": b, "ours": o, "ratio": round(ratio, 2)}
        line = (
            f"{case:<22} {b['msgs_per_s']:>10} {o['msgs_per_s']:>10} {ratio:>6.2f} "
            f"{b['server_cpu_us_per_msg']:>11} {o['server_cpu_us_per_msg']:>11}"
        )
        if unstored:
            row["ours_no_store"] = u = unstored[case]
            line += f"   no store: {u['msgs_per_s']} msg/s, {u['server_cpu_us_per_msg']} µs"
        rows.append(row)
        print(line)
    server = ours["_server"]
    print(f"stored and processed: {server['stored']} rows in {server['batches']} commits")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": rows, "ours": server}, indent=2))


if __name__ == "__main__":
    main()
