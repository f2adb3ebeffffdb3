"""The inbound store's three hot statements, in SQL built once from the model.

Building each INSERT, SELECT and UPDATE through the ORM costs several hundred
microseconds of CPU per message, more than the rest of the pipeline together;
``runmailserver`` does all three for every message. As Django's own database
cache backend does, these statements are written in plain SQL, quoted with
``connection.ops`` and fed values adapted by each field's ``get_db_prep_save``,
so they stay portable. Backends without ``INSERT ... RETURNING`` use the ORM.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any

from django.db import connections

from mailserver.models.inbound import InboundMessage

_meta = InboundMessage._meta
_pk = _meta.pk


@cache
def _insert_fields() -> list:
    return [f for f in _meta.concrete_fields if f is not _pk]


def _quote(connection: Any, name: str) -> str:
    return connection.ops.quote_name(name)


def insert(messages: Sequence[InboundMessage], using: str = "default") -> None:
    """INSERT ``messages`` in one statement and set their primary keys."""
    connection = connections[using]
    if not connection.features.can_return_rows_from_bulk_insert:
        InboundMessage.objects.using(using).bulk_create(messages)
        return
    fields = _insert_fields()
    columns = ", ".join(_quote(connection, f.column) for f in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = (
        f"INSERT INTO {_quote(connection, _meta.db_table)} ({columns}) "
        f"VALUES {', '.join([row] * len(messages))} RETURNING {_quote(connection, _pk.column)}"
    )
    params = [
        f.get_db_prep_save(getattr(message, f.attname), connection)
        for message in messages
        for f in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        pks = [row[0] for row in cursor.fetchall()]
    for message, pk in zip(messages, pks, strict=True):
        message.pk = pk
        message._state.adding = False
        message._state.db = using


def results_by_key(hashes: Iterable[str], using: str = "default") -> list[tuple[str, str, dict]]:
    """(content_hash, message_id, results) of the stored rows with these hashes."""
    connection = connections[using]
    hashes = list(hashes)
    table = _quote(connection, _meta.db_table)
    sql = (
        f"SELECT {_quote(connection, 'content_hash')}, {_quote(connection, 'message_id')}, "
        f"{_quote(connection, 'results')} FROM {table} "
        f"WHERE {_quote(connection, 'content_hash')} IN ({', '.join(['%s'] * len(hashes))})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, hashes)
        rows = cursor.fetchall()
    return [(h, i, json.loads(r) if isinstance(r, str | bytes) else (r or {})) for h, i, r in rows]


def update(pk: int, fields: Mapping[str, Any], using: str = "default") -> None:
    """UPDATE one row with ``fields`` and count the attempt."""
    connection = connections[using]
    names = list(fields)
    model_fields = [_meta.get_field(name) for name in names]
    attempts = _quote(connection, "attempts")
    assignments = [f"{_quote(connection, f.column)} = %s" for f in model_fields]
    assignments.append(f"{attempts} = {attempts} + 1")
    sql = (
        f"UPDATE {_quote(connection, _meta.db_table)} SET {', '.join(assignments)} "
        f"WHERE {_quote(connection, _pk.column)} = %s"
    )
    params = [f.get_db_prep_save(fields[f.name], connection) for f in model_fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, pk])
