"""Soak test: many SMTP clients against runmailserver while queue workers send the replies.

Everything runs on 127.0.0.1 and is bounded in count and time. One ``runmailserver``
process receives; its view answers every message with ``request.reply()``, which is
queued; two ``runmailqueue`` processes deliver the replies to an SMTP sink in this
process. Client processes (threads inside) send the messages, one SMTP session per
thread. The database is a scratch PostgreSQL database on 127.0.0.1:5432 (user
postgres), dropped at the end.

Reported: messages accepted, refused and failed at the clients; stored and processed
inbound rows; replies queued and delivered (by Message-ID, with duplicates); the peak
memory (VmHWM) of every process, and the server's memory after warm-up and at the end.

    python bench/soak.py            # 50 clients, 20,000 messages, at most 15 minutes
    python bench/soak.py --quick    # 10 clients, 500 messages
    python bench/soak.py --clients 50 --messages 5000 --timeout 300 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import smtplib
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
RECIPIENT = "soak@example.com"
THREADS_PER_PROCESS = 10


# The mailconf of the soak run (ROOT_MAILCONF is this module, run as __main__).
def answer(request):
    return request.reply("Thanks, we got your message.")


def __getattr__(name):
    if name == "mailpatterns":
        from mailserver.routing import route

        return [route(RECIPIENT, answer, name="soak")]
    raise AttributeError(name)


def configure(database: str, sink_port: int) -> None:
    import django
    from django.conf import settings

    delivery = {}
    if django.VERSION >= (6, 1):
        delivery = {
            "MAILERS": {
                "delivery": {
                    "BACKEND": "mailserver.backends.smtp.DeliveryBackend",
                    "OPTIONS": {"host": "127.0.0.1", "port": sink_port},
                }
            },
            "MAILSERVER_DELIVERY_BACKEND": "delivery",
        }
    else:
        delivery = {"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": sink_port}
    settings.configure(
        SECRET_KEY="soak",
        USE_TZ=True,
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "mailserver"],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": database,
                "HOST": PG["host"],
                "PORT": PG["port"],
                "USER": PG["user"],
            }
        },
        ROOT_MAILCONF="__main__",
        DEFAULT_FROM_EMAIL="soak@example.com",
        MAILSERVER_POLL_INTERVAL=0.2,
        MAILSERVER_SMTP_MAX_SESSIONS=500,
        LOGGING_CONFIG=None,
        **delivery,
    )
    django.setup()


# Roles (each a child process running this file) -----------------------------------------


def role_server(args) -> None:
    from django.core.management import call_command

    configure(args.db, args.sink_port)
    call_command("runmailserver", f"127.0.0.1:{args.port}")


def role_worker(args) -> None:
    from django.core.management import call_command

    configure(args.db, args.sink_port)
    call_command("runmailqueue", verbosity=0)


def message(client: int, number: int) -> tuple[str, bytes]:
    sender = f"c{client}-{number}@soak.example.org"
    raw = (
        f"From: Soak {client} <{sender}>\r\nTo: {RECIPIENT}\r\n"
        f"Subject: soak {client}-{number}\r\nMessage-ID: <{uuid.uuid4().hex}@soak.example.org>\r\n"
        "Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n\r\n"
    ).encode() + b"Hello from the soak test.\r\n" * 20
    return sender, raw


def role_clients(args) -> None:
    """Send ``args.count`` messages from THREADS_PER_PROCESS sessions; print the tally."""
    tally: Counter = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + args.timeout

    def client(index: int, numbers: range) -> None:
        smtp = None
        for number in numbers:
            if time.monotonic() > deadline:
                with lock:
                    tally["not sent (timeout)"] += 1
                continue
            sender, raw = message(index, number)
            try:
                if smtp is None:
                    smtp = smtplib.SMTP("127.0.0.1", args.port, timeout=60)
                    smtp.ehlo(f"client{index}.soak.example.org")
                smtp.sendmail(sender, [RECIPIENT], raw)
                outcome = "accepted"
            except smtplib.SMTPResponseException as exc:
                outcome = f"refused {exc.smtp_code}"
            except (OSError, smtplib.SMTPException) as exc:
                outcome = f"error {type(exc).__name__}"
                smtp = None
            with lock:
                tally[outcome] += 1
        if smtp is not None:
            smtp.quit()

    per_thread = args.count // THREADS_PER_PROCESS
    threads = [
        threading.Thread(
            target=client,
            args=(args.first + t, range(per_thread * t, per_thread * (t + 1))),
        )
        for t in range(THREADS_PER_PROCESS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(tally))


# The conductor ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def memory(pid: int) -> dict:
    """Current (VmRSS) and peak (VmHWM) resident memory of ``pid`` in MB."""
    found = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, value = line.split(":")
                found[name] = round(int(value.split()[0]) / 1024, 1)
    except OSError:
        pass
    return found


def spawn(role: str, args, **extra) -> subprocess.Popen:
    options = [f"--{k.replace('_', '-')}={v}" for k, v in extra.items()]
    return subprocess.Popen(
        [sys.executable, __file__, "--role", role, f"--db={args.db}",
         f"--sink-port={args.sink_port}", f"--port={args.port}", *options],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def counts() -> dict:
    from django.db.models import Count

    from mailserver.models import InboundMessage, OutboundMessage

    inbound = dict(InboundMessage.objects.values_list("status").annotate(n=Count("id")).order_by())
    outbound = dict(
        OutboundMessage.objects.values_list("status").annotate(n=Count("id")).order_by()
    )
    return {"inbound": inbound, "outbound": outbound}


def conduct(args) -> dict:
    import psycopg

    from mailserver.test.smtpsink import SMTPSink

    admin = psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=3, **PG)
    args.db = f"mailserver_soak_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{args.db}"')
    processes: list[subprocess.Popen] = []
    try:
        sink = SMTPSink().start()
        args.sink_port, args.port = sink.port, free_port()
        configure(args.db, sink.port)
        from django.core.management import call_command

        call_command("migrate", run_syncdb=True, verbosity=0)

        server = spawn("server", args)
        processes.append(server)
        assert "Receiving" in server.stdout.readline(), server.stderr.read()
        workers = [spawn("worker", args) for _ in range(2)]
        processes += workers

        started = time.monotonic()
        deadline = started + args.timeout
        per_process = THREADS_PER_PROCESS * (args.messages // args.clients)
        client_processes = [
            spawn("clients", args, first=p * THREADS_PER_PROCESS, count=per_process,
                  timeout=int(args.timeout))
            for p in range(args.clients // THREADS_PER_PROCESS)
        ]  # fmt: skip
        samples = []
        while any(p.poll() is None for p in client_processes):
            samples.append(memory(server.pid).get("VmRSS"))
            time.sleep(1)
        tally: Counter = Counter()
        for process in client_processes:
            out, err = process.communicate()
            tally.update(json.loads(out.strip().splitlines()[-1]) if out.strip() else {})
            if process.returncode:
                tally[f"client process failed: {err[-300:]}"] += 1
        sending_seconds = time.monotonic() - started

        # Let the server finish handling and the workers drain the replies.
        accepted = tally["accepted"]
        while time.monotonic() < deadline:
            now = counts()
            delivered = len({m.message_id for m in sink.messages})
            if now["inbound"].get("processed", 0) >= accepted and delivered >= accepted:
                break
            time.sleep(1)
        total_seconds = time.monotonic() - started
        final = counts()
        ids = Counter(m.message_id for m in sink.messages)
        report = {
            "clients": args.clients,
            "messages": args.messages,
            "sent by clients": dict(tally),
            "accepted": accepted,
            "stored": sum(final["inbound"].values()),
            "processed": final["inbound"].get("processed", 0),
            "inbound by status": final["inbound"],
            "replies queued": sum(final["outbound"].values()),
            "outbound by status": final["outbound"],
            "replies delivered": len(ids),
            "replies delivered twice": sum(1 for n in ids.values() if n > 1),
            "seconds sending": round(sending_seconds, 1),
            "seconds until drained": round(total_seconds, 1),
            "accepted per second": round(accepted / sending_seconds, 1),
            "peak memory MB": {
                "server": memory(server.pid).get("VmHWM"),
                **{f"worker {i + 1}": memory(w.pid).get("VmHWM") for i, w in enumerate(workers)},
                "sink and conductor": memory(os.getpid()).get("VmHWM"),
            },
            # Sampled each second while clients send: at 20, 40, 60, 80 and 100 %.
            "server memory MB while sending": [
                samples[min(len(samples) - 1, len(samples) * k // 5)] for k in range(1, 6)
            ]
            if samples
            else [],
        }
        sink.stop()
        return report
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        from django.db import connections

        connections.close_all()
        admin.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
        admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 clients, 500 messages.")
    parser.add_argument("--clients", type=int, default=50, help="Multiple of 10.")
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--timeout", type=float, default=900, help="Bound on the whole run.")
    parser.add_argument("--json", help="Also write the report to this file.")
    parser.add_argument("--role", default="conductor", help=argparse.SUPPRESS)
    for hidden in ("db", "sink-port", "port", "first", "count"):
        parser.add_argument(f"--{hidden}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    for name in ("sink_port", "port", "first", "count"):
        if getattr(args, name) is not None:
            setattr(args, name, int(getattr(args, name)))
    if args.role != "conductor":
        {"server": role_server, "worker": role_worker, "clients": role_clients}[args.role](args)
        return
    if args.quick:
        args.clients, args.messages = 10, 500
    if args.clients % THREADS_PER_PROCESS:
        parser.error(f"--clients must be a multiple of {THREADS_PER_PROCESS}.")
    report = conduct(args)
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
