"""The inbound store's lookup of earlier deliveries, in SQL built once.

Through the ORM this SELECT costs more CPU than the rest of storing a message, and
``runmailserver`` runs it for every batch; see :mod:`mailserver.statements` for the
INSERT and UPDATE, and why. Values are quoted with ``connection.ops``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from django.db import connections

from mailserver.models.inbound import InboundMessage

_meta = InboundMessage._meta


def results_by_key(hashes: Iterable[str], using: str = "default") -> list[tuple[str, str, dict]]:
    """(content_hash, message_id, results) of the stored rows with these hashes."""
    quote = connections[using].ops.quote_name
    hashes = list(hashes)
    sql = (
        f"SELECT {quote('content_hash')}, {quote('message_id')}, {quote('results')} "
        f"FROM {quote(_meta.db_table)} "
        f"WHERE {quote('content_hash')} IN ({', '.join(['%s'] * len(hashes))})"
    )
    with connections[using].cursor() as cursor:
        cursor.execute(sql, hashes)
        rows = cursor.fetchall()
    return [(h, i, json.loads(r) if isinstance(r, str | bytes) else (r or {})) for h, i, r in rows]
