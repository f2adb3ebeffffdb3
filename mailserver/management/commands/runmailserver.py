"""``manage.py runmailserver``: receive mail over SMTP or LMTP (aiosmtpd)."""

import logging
import re
import ssl
import sys

from django.core.management.base import BaseCommand, CommandError

DEFAULT_ADDR, DEFAULT_PORT = "127.0.0.1", 8025
ADDRPORT_RE = re.compile(r"^(?:\[?(?P<addr>[^\]]*?)\]?:)?(?P<port>\d+)$")


def parse_addrport(value: str | None) -> tuple[str, int]:
    """``"8025"``, ``"0.0.0.0:25"`` or ``"[::1]:24"`` -> (address, port)."""
    if not value:
        return DEFAULT_ADDR, DEFAULT_PORT
    match = ADDRPORT_RE.match(value)
    if not match:
        raise CommandError(
            f"{value!r} is not a port or an address:port pair, like 127.0.0.1:8025."
        )
    return match["addr"] or DEFAULT_ADDR, int(match["port"])


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise CommandError(f"Cannot load the TLS certificate {cert} and key {key}: {exc}") from exc
    return context


class Command(BaseCommand):
    help = (
        "Run an SMTP (or, with --lmtp, LMTP) server that stores each message and hands it "
        "to the mail view its recipient routes to. SIGTERM drains in-flight sessions."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "addrport",
            nargs="?",
            help=f"Port or address:port (default {DEFAULT_ADDR}:{DEFAULT_PORT}).",
        )
        parser.add_argument(
            "--lmtp",
            action="store_true",
            help="Speak LMTP (RFC 2033): one reply per recipient. For Postfix's lmtp: transport.",
        )
        parser.add_argument("--tls-cert", help="PEM certificate: enables STARTTLS.")
        parser.add_argument("--tls-key", help="PEM private key for --tls-cert.")
        parser.add_argument(
            "--require-tls", action="store_true", help="Refuse MAIL before STARTTLS."
        )
        parser.add_argument(
            "--auth",
            action="store_true",
            help="Require SMTP AUTH (PLAIN, LOGIN) against Django's users; needs --tls-cert.",
        )
        parser.add_argument("--hostname", help="The name in the greeting (default: the FQDN).")

    def handle(self, *args, **options):
        from mailserver.ingress.server import MailServer

        addr, port = parse_addrport(options["addrport"])
        if bool(options["tls_cert"]) != bool(options["tls_key"]):
            raise CommandError("--tls-cert and --tls-key go together: give both.")
        if options["require_tls"] and not options["tls_cert"]:
            raise CommandError("--require-tls needs --tls-cert and --tls-key.")
        if options["auth"] and (not options["tls_cert"] or options["lmtp"]):
            raise CommandError("--auth needs --tls-cert and --tls-key, and SMTP (not --lmtp).")
        context = (
            tls_context(options["tls_cert"], options["tls_key"]) if options["tls_cert"] else None
        )
        if options["verbosity"] >= 2:
            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
            log = logging.getLogger("mailserver.smtp")
            log.addHandler(handler)
            log.setLevel(logging.INFO)
        server = MailServer(
            addr,
            port,
            lmtp=options["lmtp"],
            tls_context=context,
            require_tls=options["require_tls"],
            auth=options["auth"],
            hostname=options["hostname"],
        )
        self.check(display_num_errors=False)
        protocol = "LMTP" if options["lmtp"] else "SMTP"

        def ready(server):
            if options["verbosity"] >= 1:
                self.stdout.write(
                    f"Receiving {protocol} on {server.host}:{server.port}. "
                    "Stop with SIGTERM or CONTROL-C."
                )
                self.stdout.flush()

        server.run(ready)
