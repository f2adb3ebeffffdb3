"""``manage.py senddigests KEY``: queue one mail per recipient with their pending items."""

from django.core.management.base import BaseCommand

from mailserver.outbound.digests import send_digests


class Command(BaseCommand):
    help = (
        "Turn each recipient's pending digest items of KEY into one queued mail, rendered "
        "with the template NAME (.subject.txt, .txt, optional .html)."
    )

    def add_arguments(self, parser):
        parser.add_argument("key", help="The digest key items were queued under.")
        parser.add_argument(
            "--template", default=None, help="Template name (default mailserver/digests/KEY)."
        )
        parser.add_argument(
            "--from-email", default=None, help="From (default DEFAULT_FROM_EMAIL)."
        )
        parser.add_argument("--priority", default="low", choices=["high", "normal", "low"])

    def handle(self, *args, key, template=None, from_email=None, priority="low", **options):
        count = send_digests(key, template, from_email=from_email, priority=priority)
        if options["verbosity"]:
            self.stdout.write(f"Queued {count} digest(s) for {key!r}.")
