"""``manage.py fetchmail NAME | --all [--watch]``: take mail from the mailboxes of
``MAILSERVER_MAILBOXES`` and run it through the inbound pipeline."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from mailserver.status import EX_TEMPFAIL


class Command(BaseCommand):
    help = (
        "Fetch mail from the mailboxes named in MAILSERVER_MAILBOXES (IMAP, POP3, Maildir, "
        "mbox), store it and hand it to the mail views. A message is removed from the "
        "mailbox only after it is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*", metavar="NAME", help="A mailbox to fetch.")
        parser.add_argument("--all", action="store_true", help="Fetch every mailbox.")
        parser.add_argument(
            "--watch",
            action="store_true",
            help="Keep running: wait for new mail (IMAP IDLE) or poll, until SIGTERM.",
        )

    def handle(self, *names, **options):
        from mailserver.exceptions import MailServerConfigurationError
        from mailserver.ingress.mailboxes.config import get_mailbox, mailbox_names

        self.verbosity = options["verbosity"]
        names = options["names"]
        if options["all"]:
            if names:
                raise CommandError("Give mailbox names or --all, not both.")
            names = mailbox_names()
            if not names:
                raise CommandError("MAILSERVER_MAILBOXES is empty: there is nothing to fetch.")
        elif not names:
            raise CommandError("Name a mailbox of MAILSERVER_MAILBOXES, or give --all.")
        try:
            configs = [get_mailbox(name) for name in dict.fromkeys(names)]
        except MailServerConfigurationError as exc:
            raise CommandError(str(exc)) from exc
        stop = threading.Event()
        previous = {
            signum: signal.signal(signum, lambda *args: stop.set())
            for signum in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            if options["watch"]:
                self.watch(configs, stop)
            else:
                self.fetch(configs, stop)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def fetch(self, configs, stop) -> None:
        from mailserver.ingress.mailboxes.base import (
            MailboxError,
            MailboxLoginError,
            MailboxUnavailable,
        )
        from mailserver.ingress.mailboxes.fetch import Fetcher

        errors = []
        for config in configs:
            if stop.is_set():
                break
            try:
                report = Fetcher(config, stop=stop).fetch()
            except MailboxLoginError as exc:
                errors.append((str(exc), 1))
            except MailboxUnavailable as exc:
                errors.append((str(exc), EX_TEMPFAIL))
            except MailboxError as exc:
                errors.append((str(exc), 1))
            else:
                if self.verbosity >= 1:
                    self.stdout.write(str(report))
        if errors:
            for message, _ in errors[:-1]:
                self.stderr.write(message)
            raise CommandError(errors[-1][0], returncode=max(code for _, code in errors))

    def watch(self, configs, stop) -> None:
        from mailserver.ingress.mailboxes.fetch import Fetcher

        failures = []

        def run(config):
            from django.db import connections

            try:
                Fetcher(config, stop=stop, on_report=self.report).watch()
            except Exception as exc:
                failures.append(exc)
                stop.set()
            finally:
                connections.close_all()

        threads = [
            threading.Thread(target=run, args=(config,), name=f"fetchmail-{config.name}")
            for config in configs
        ]
        for thread in threads:
            thread.start()
        self.stdout.write(
            f"Watching {', '.join(c.name for c in configs)}; stop with SIGTERM or CONTROL-C."
        )
        while any(thread.is_alive() for thread in threads):
            # A short join keeps the main thread free to run the signal handlers.
            for thread in threads:
                thread.join(0.2)
        if failures:
            raise CommandError(str(failures[0]))

    def report(self, report) -> None:
        if self.verbosity >= 1 and (report.stored or report.known or report.refused):
            self.stdout.write(str(report))
