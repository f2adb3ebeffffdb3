"""``manage.py runpolicyserver``: Postfix policy delegation from the mailconf."""

import logging
import sys

from django.core.management.base import BaseCommand

from mailserver.management.commands.runmailserver import parse_addrport

DEFAULT_PORT = 10040


class Command(BaseCommand):
    help = (
        "Answer Postfix's check_policy_service requests: refuse at RCPT time the "
        "recipients ROOT_MAILCONF does not route (550 5.1.1), DUNNO for the rest."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "addrport", nargs="?", help=f"Port or address:port (default 127.0.0.1:{DEFAULT_PORT})."
        )
        parser.add_argument(
            "--domain",
            action="append",
            help="Judge only recipients in this domain (repeat for several); DUNNO for others.",
        )

    def handle(self, *args, **options):
        from mailserver.ingress.policy import PolicyServer

        addr, port = parse_addrport(options["addrport"] or str(DEFAULT_PORT))
        if options["verbosity"] >= 2:
            log = logging.getLogger("mailserver.policy")
            log.addHandler(logging.StreamHandler(sys.stdout))
            log.setLevel(logging.INFO)
        self.check(display_num_errors=False)

        def ready(server):
            if options["verbosity"] >= 1:
                self.stdout.write(f"Answering policy requests on {server.host}:{server.port}.")
                self.stdout.flush()

        PolicyServer(addr, port, domains=options["domain"]).run(ready)
