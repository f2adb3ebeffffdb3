"""``manage.py readmail``: receive one message on stdin, as an MTA pipe runs it.

Kept import-light: Postfix starts a new process for every message.
"""

import logging
import sys

from django.core.management.base import BaseCommand

logger = logging.getLogger("mailserver.readmail")

#: Options whose value comes from the remote peer (Postfix expands ${sender} into argv).
ENVELOPE_OPTIONS = ("--sender", "--recipient", "--peer", "--helo")


def attach_values(argv: list[str]) -> list[str]:
    """Turn ``--sender VALUE`` into ``--sender=VALUE``.

    argparse takes a separate value that starts with ``-`` (a sender ``-x@evil``)
    for an option and exits with status 2, which an MTA turns into a bounce.
    """
    args, values = [], iter(argv)
    for arg in values:
        if arg in ENVELOPE_OPTIONS:
            arg = f"{arg}={next(values, '')}"
        args.append(arg)
    return args


def quiet_logging() -> None:
    """Keep log records (tracebacks) off stderr unless the project configured logging.

    With no handler anywhere, Python prints warnings and errors to stderr, and an
    MTA's pipe copies stderr into the bounce that goes to the remote sender. The
    traceback of a failed view is stored with the message instead.
    """
    package = logging.getLogger("mailserver")
    if not logging.getLogger().handlers and not package.handlers:
        package.addHandler(logging.NullHandler())


class Command(BaseCommand):
    help = (
        "Receive a message on stdin (Postfix pipe(8): --sender ${sender} --recipient "
        "${recipient}) and exit with a sysexits code the MTA understands."
    )
    requires_system_checks = []

    def run_from_argv(self, argv):
        super().run_from_argv(attach_values(argv))

    def add_arguments(self, parser):
        parser.add_argument("--sender", default=None, help="The envelope sender (MAIL FROM).")
        parser.add_argument(
            "--recipient",
            action="append",
            default=[],
            help="An envelope recipient (RCPT TO); repeat for several. "
            "Without it, the To and Cc headers name the recipients.",
        )
        parser.add_argument("--peer", default=None, help="The IP address of the sending client.")
        parser.add_argument("--helo", default=None, help="The HELO name of the sending client.")
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--mbox", help="Replay every message of this mbox file.")
        source.add_argument("--maildir", help="Replay every message of this Maildir.")

    def handle(self, *args, **options):
        quiet_logging()
        try:
            status = self.receive(options)
        except Exception:
            # An MTA turns any other exit status into a bounce: defer instead.
            logger.exception("readmail failed before the message was handled.")
            self.stderr.write("4.3.0 Temporary failure, try again later")
            status = 75
        sys.exit(status)

    def receive(self, options) -> int:
        from mailserver.ingress.pipe import (
            describe,
            mailbox_messages,
            receive_stream,
            summarize,
        )
        from mailserver.ingress.pipeline import Envelope, receive

        envelope = Envelope(
            sender=options["sender"],
            recipients=options["recipient"],
            peer=options["peer"],
            helo=options["helo"],
            transport="pipe",
        )
        if options["mbox"] or options["maildir"]:
            results = [
                summarize(receive(raw, envelope))
                for raw in mailbox_messages(options["mbox"], options["maildir"])
            ]
            failed = [r for r in results if not r.is_success]
            self.stdout.write(f"{len(results)} messages read, {len(failed)} not accepted.")
            for result in failed:
                self.stderr.write(describe(result))
            status = summarize(results).exit_code if results else 0
        else:
            result = summarize(receive_stream(sys.stdin.buffer, envelope))
            if not result.is_success:
                self.stderr.write(describe(result))
            status = result.exit_code
        return status
