"""The suppression list: addresses mail must not be sent to.

One implementation for the whole app: the outbound queue checks it at enqueue
and again just before sending, and the bounce policy adds to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import connections, router
from django.utils import timezone

from mailserver import signals


def normalize(address: str) -> str:
    """Return the form addresses are stored and compared in.

    The domain is always compared case-insensitively; the local part too,
    unless ``MAILSERVER_CASE_SENSITIVE_LOCALPART`` is set (RFC 5321 lets it be
    case-sensitive, but almost no mailbox is). With
    ``MAILSERVER_SUPPRESS_SUBADDRESSES``, ``jo+news@x`` is suppressed with
    ``jo@x``: the tag is dropped.
    """
    from mailserver.conf import settings as app_settings

    address = address.strip().strip("<>").strip()
    local, at, domain = address.rpartition("@")
    if not at:
        return address.lower()
    if not app_settings.CASE_SENSITIVE_LOCALPART:
        local = local.lower()
    separator = app_settings.SUBADDRESS_SEPARATOR
    if app_settings.SUPPRESS_SUBADDRESSES and separator and separator in local:
        local = local.partition(separator)[0]
    return f"{local}@{domain.lower()}"


def suppress(
    address: str,
    reason: str,
    source: str | None = None,
    expires_at: datetime | None = None,
):
    """Add ``address`` to the list (or update why it is there) and return the row."""
    from mailserver.models import Suppression

    suppression, _ = Suppression.objects.update_or_create(
        address=normalize(address),
        defaults={"reason": reason, "source": source or "", "expires_at": expires_at},
    )
    signals.address_suppressed.send(sender=Suppression, suppression=suppression)
    return suppression


def unsuppress(address: str) -> bool:
    """Remove ``address`` from the list; return whether it was there."""
    from mailserver.models import Suppression

    deleted, _ = Suppression.objects.filter(address=normalize(address)).delete()
    return bool(deleted)


def is_suppressed(address: str) -> bool:
    """Return whether mail to ``address`` must not be sent now."""
    return bool(suppressed_among([address]))


def suppressed_among(addresses: Iterable[str]) -> set[str]:
    """Return the normalised addresses of ``addresses`` that are suppressed, in one query.

    Every enqueue and every batch a worker sends runs this, so it is plain SQL built
    from the model (see :mod:`mailserver.statements` for why), not a QuerySet.
    """
    from mailserver.models import Suppression

    wanted = sorted({normalize(a) for a in addresses})
    if not wanted:
        return set()
    connection = connections[router.db_for_read(Suppression)]
    quote = connection.ops.quote_name
    address, expires_at = (Suppression._meta.get_field(name) for name in ("address", "expires_at"))
    now = expires_at.get_db_prep_value(timezone.now(), connection)
    found: set[str] = set()
    with connection.cursor() as cursor:
        # Stay under SQLite's default limit of query parameters.
        for start in range(0, len(wanted), 900):
            chunk = wanted[start : start + 900]
            cursor.execute(
                f"SELECT {quote(address.column)} FROM {quote(Suppression._meta.db_table)} "
                f"WHERE {quote(address.column)} IN ({', '.join(['%s'] * len(chunk))}) "
                f"AND ({quote(expires_at.column)} IS NULL OR {quote(expires_at.column)} > %s)",
                [*chunk, now],
            )
            found.update(row[0] for row in cursor.fetchall())
    return found
