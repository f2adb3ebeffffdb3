"""``manage.py retrymail``: run stored inbound mail whose handling failed again."""

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Run failed inbound messages through their mail views again. Recipients "
        "already served are skipped."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--id", type=int, action="append", help="An InboundMessage id.")
        which.add_argument(
            "--all-failed", action="store_true", help="Every message with status failed."
        )

    def handle(self, *args, **options):
        from mailserver.ingress.replay import retry
        from mailserver.models.inbound import InboundMessage

        messages = InboundMessage.objects.order_by("pk")
        if options["all_failed"]:
            messages = messages.filter(status=InboundMessage.Status.FAILED)
        else:
            messages = messages.filter(pk__in=options["id"])
            missing = set(options["id"]) - set(messages.values_list("pk", flat=True))
            if missing:
                raise CommandError(f"No inbound message with id {', '.join(map(str, missing))}.")
        still_failed = 0
        for message in messages.iterator():
            results = retry(message)
            still_failed += message.status == InboundMessage.Status.FAILED
            if options["verbosity"] >= 2:
                replies = "; ".join(f"{r.recipient}: {r.smtp_reply()}" for r in results)
                self.stdout.write(f"#{message.pk} {message.status}: {replies or 'nothing to do'}")
        if options["verbosity"] >= 1:
            self.stdout.write(f"{messages.count()} retried, {still_failed} still failed.")
        if still_failed:
            raise CommandError(f"{still_failed} message(s) still failed.", returncode=75)
