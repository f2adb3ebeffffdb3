"""``manage.py sendmailqueue``: send the mail that is due now, then exit (for cron)."""

from django.core.management.base import BaseCommand, CommandError

from mailserver.outbound.locks import WorkerAlreadyRunning, single_worker
from mailserver.outbound.worker import Worker


class Command(BaseCommand):
    help = "Send every queued message that is due now, then exit."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=None, help="Messages per claim.")

    def handle(self, *args, batch_size=None, **options):
        worker = Worker(batch_size=batch_size)
        try:
            with single_worker(worker.using):
                stats = worker.drain()
        except WorkerAlreadyRunning as exc:
            raise CommandError(str(exc)) from exc
        if options["verbosity"]:
            self.stdout.write(f"Processed {stats}.")
