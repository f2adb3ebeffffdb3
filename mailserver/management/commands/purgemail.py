"""``manage.py purgemail``: delete stored inbound mail older than the retention period."""

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone


class Command(BaseCommand):
    help = (
        "Delete processed and rejected inbound messages older than "
        "MAILSERVER_INBOUND_RETENTION (or --days). Failed ones stay unless --failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=float, help="Keep this many days instead.")
        parser.add_argument(
            "--failed", action="store_true", help="Delete old failed messages too."
        )

    def handle(self, *args, **options):
        from mailserver.conf import settings as app_settings
        from mailserver.ingress.store import purge
        from mailserver.models.inbound import InboundMessage

        Status = InboundMessage.Status
        keep = app_settings.INBOUND_RETENTION
        if options["days"] is not None:
            keep = timedelta(days=options["days"])
        statuses = [Status.PROCESSED, Status.REJECTED]
        if options["failed"]:
            statuses.append(Status.FAILED)
        deleted = purge(timezone.now() - keep, statuses)
        if options["verbosity"] >= 1:
            self.stdout.write(f"Deleted {deleted} inbound message(s).")
