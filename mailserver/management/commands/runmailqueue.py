"""``manage.py runmailqueue``: the long-running outbound queue worker."""

import signal

from django.core.management.base import BaseCommand, CommandError

from mailserver.outbound.locks import WorkerAlreadyRunning, single_worker
from mailserver.outbound.worker import Worker


class Command(BaseCommand):
    help = (
        "Send queued mail until stopped. Several workers may run against one PostgreSQL "
        "database; SIGTERM finishes the message in hand and exits."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=None, help="Messages per claim.")
        parser.add_argument(
            "--poll", type=float, default=None, help="Seconds between checks when idle."
        )
        parser.add_argument("--worker-id", default=None, help="Name shown in leases and logs.")

    def handle(self, *args, batch_size=None, poll=None, worker_id=None, **options):
        worker = Worker(batch_size=batch_size, worker_id=worker_id)

        def stop(signum, frame):
            worker.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            with single_worker(worker.using):
                if options["verbosity"] > 1:
                    self.stdout.write(f"Worker {worker.worker_id} started.")
                stats = worker.run(poll_interval=poll)
        except WorkerAlreadyRunning as exc:
            raise CommandError(str(exc)) from exc
        if options["verbosity"]:
            self.stdout.write(f"Worker {worker.worker_id} stopped after {stats}.")
