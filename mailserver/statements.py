"""The hot INSERTs and UPDATEs of the mail paths, in SQL built from the model.

Building a statement through the ORM costs a few hundred microseconds of CPU,
more than the rest of the work for a small message: ``runmailserver`` stores
every message it accepts, and a queue worker records every message it sends.
As Django's own database cache backend does, these statements are written in
plain SQL, quoted with ``connection.ops`` and fed values prepared by each
field's ``pre_save()`` and ``get_db_prep_save()``, so they stay portable. Like
``bulk_create()`` and ``QuerySet.update()``, they send no model signals.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from functools import cache
from typing import Any

from django.db import connections
from django.db.models import Model


@cache
def _insert_fields(model: type[Model]) -> list:
    pk = model._meta.pk
    return [f for f in model._meta.concrete_fields if f is not pk]


def insert(rows: Sequence[Model], using: str = "default") -> None:
    """INSERT ``rows`` (of one model) in as few statements as the backend allows.

    Their primary keys are set, as ``bulk_create()`` sets them; backends without
    ``INSERT ... RETURNING`` (MySQL) use ``bulk_create()``.
    """
    if not rows:
        return
    model = type(rows[0])
    connection = connections[using]
    if not connection.features.can_return_rows_from_bulk_insert:
        model._default_manager.using(using).bulk_create(rows)
        return
    fields = _insert_fields(model)
    size = max(connection.ops.bulk_batch_size(fields, rows), 1)
    for start in range(0, len(rows), size):
        _insert(model, fields, rows[start : start + size], connection)
    for row in rows:
        row._state.adding = False
        row._state.db = using


def _insert(model: type[Model], fields: list, rows: Sequence[Model], connection: Any) -> None:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) "
        f"VALUES {', '.join([placeholders] * len(rows))} RETURNING {quote(model._meta.pk.column)}"
    )
    params = [
        f.get_db_prep_save(f.pre_save(row, True), connection) for row in rows for f in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        pks = [pk for (pk,) in cursor.fetchall()]
    for row, pk in zip(rows, pks, strict=True):
        row.pk = pk


def update(
    model: type[Model],
    pks: Collection[Any],
    fields: Mapping[str, Any],
    increment: Sequence[str] = (),
    using: str = "default",
) -> None:
    """UPDATE the rows ``pks`` of ``model``: set ``fields`` and add one to ``increment``."""
    connection = connections[using]
    quote = connection.ops.quote_name
    model_fields = [model._meta.get_field(name) for name in fields]
    assignments = [f"{quote(f.column)} = %s" for f in model_fields]
    for name in increment:
        column = quote(model._meta.get_field(name).column)
        assignments.append(f"{column} = {column} + 1")
    sql = (
        f"UPDATE {quote(model._meta.db_table)} SET {', '.join(assignments)} "
        f"WHERE {quote(model._meta.pk.column)} IN ({', '.join(['%s'] * len(pks))})"
    )
    params = [f.get_db_prep_save(fields[f.name], connection) for f in model_fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *pks])
