"""``manage.py suppression import FILE`` / ``suppression export [FILE]``: the list as CSV.

The CSV has a header row ``address,reason,source,created_at,expires_at``; on
import only ``address`` is required (``reason`` defaults to ``manual``), so a
plain list of addresses, one a line under an ``address`` header, works too.
"""

from __future__ import annotations

import contextlib
import csv
import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from mailserver.suppression import suppress

FIELDS = ["address", "reason", "source", "created_at", "expires_at"]


class Command(BaseCommand):
    help = "Import or export the suppression list as CSV."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        importing = sub.add_parser("import", help="Add the addresses of a CSV file.")
        importing.add_argument("file", help="CSV file, '-' for standard input.")
        exporting = sub.add_parser("export", help="Write the list as CSV.")
        exporting.add_argument("file", nargs="?", default="-", help="Default: standard output.")

    def handle(self, *args, action, file, **options):
        if action == "import":
            self._import(file)
        else:
            self._export(file)

    def _import(self, path: str) -> None:
        from mailserver.models import Suppression

        with _open(path, "r", sys.stdin) as stream:
            reader = csv.DictReader(stream)
            if "address" not in (reader.fieldnames or []):
                raise CommandError("The CSV file needs an 'address' column.")
            count = 0
            for row in reader:
                address = (row.get("address") or "").strip()
                if not address:
                    continue
                reason = (row.get("reason") or "").strip() or Suppression.Reason.MANUAL
                if reason not in Suppression.Reason.values:
                    raise CommandError(f"Line {reader.line_num}: unknown reason {reason!r}.")
                expires = parse_datetime(row.get("expires_at") or "")
                suppress(address, reason, source=row.get("source") or "import", expires_at=expires)
                count += 1
        self.stdout.write(f"Imported {count} addresses.")

    def _export(self, path: str) -> None:
        from mailserver.models import Suppression

        with _open(path, "w", self.stdout) as stream:
            writer = csv.writer(stream)
            writer.writerow(FIELDS)
            for row in Suppression.objects.order_by("address").iterator():
                writer.writerow(
                    [
                        row.address,
                        row.reason,
                        row.source,
                        row.created_at.isoformat(),
                        row.expires_at.isoformat() if row.expires_at else "",
                    ]
                )


def _open(path: str, mode: str, standard):
    """Open ``path``, or pass ``standard`` (not to be closed) for ``-``."""
    if path == "-":
        return contextlib.nullcontext(standard)
    return open(path, mode, newline="", encoding="utf-8")
