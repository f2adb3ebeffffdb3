"""``manage.py tickets``: the help desk at a glance, for a terminal next to ``make run``."""

from django.core.management.base import BaseCommand

from helpdesk.models import Ticket
from mailserver.models import OutboundMessage


class Command(BaseCommand):
    help = "List the latest tickets with their messages, and the mail waiting in the queue."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=10, help="Show this many tickets.")

    def handle(self, *args, **options):
        tickets = Ticket.objects.select_related("customer").prefetch_related(
            "messages__attachments"
        )[: options["limit"]]
        for ticket in tickets:
            self.stdout.write(f"#{ticket.pk} [{ticket.status}] {ticket.subject}")
            self.stdout.write(
                f"    from {ticket.customer.email}, replies to {ticket.reply_address}"
            )
            for message in ticket.messages.all():
                who = "staff" if message.from_staff else message.author
                files = ", ".join(a.filename for a in message.attachments.all())
                self.stdout.write(f"    - {who}: {message.body.strip()[:60]!r} {files}".rstrip())
        if not tickets:
            self.stdout.write("No tickets yet: send a mail to help@example.com.")
        self.stdout.write("Outbound queue:")
        for message in OutboundMessage.objects.prefetch_related("recipients").order_by("-pk")[:10]:
            to = ", ".join(r.address for r in message.recipients.all())
            self.stdout.write(f"    [{message.status}] {message.subject!r} to {to}")
