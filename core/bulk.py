"""Writing many rows in one statement, for the engine's hot paths (bench: checks per second).

PostgreSQL gets whole columns as arrays, unnested in SQL, on a server-binding cursor: the
statement's text is the same for any number of rows and no value is spliced into SQL text
(Django's client-side cursor quoted every value of a batch: a third of a check's CPU). Other
databases (SQLite in development) get Django's own bulk operations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import connection, models

# Columns whose Python values PostgreSQL takes as they are (Django's get_db_prep_save would return them
# unchanged): update_rows and insert_rows pass them without a call per value.
_PLAIN_FIELDS = frozenset({
    "AutoField", "BigAutoField", "BigIntegerField", "BooleanField", "CharField", "DateTimeField", "FloatField", "ForeignKey",
    "IntegerField", "PositiveIntegerField", "PositiveSmallIntegerField", "SmallIntegerField", "TextField",
})


def _column_values(rows: Sequence[Any], field: models.Field[Any, Any], read: Any) -> list[Any]:
    values = [read(row) for row in rows]
    if field.get_internal_type() in _PLAIN_FIELDS and not (isinstance(field, models.DateTimeField) and not settings.USE_TZ):
        return values
    return [field.get_db_prep_save(value, connection) for value in values]


def array_statement(sql: str, arrays: list[list[Any]], *, fetch: bool = False) -> list[tuple[Any, ...]]:
    """Run one statement whose parameters are whole columns (PostgreSQL arrays, unnested in SQL).

    A plain psycopg cursor on Django's connection (so the caller's transaction) binds them on the
    server: the statement's text is the same for any number of rows (psycopg prepares it after a few
    runs, unless OPTIONS' prepare_threshold says never), and no row's values are spliced into SQL text (Django's client-side cursor did that for 600
    placeholders a batch: a third of a check's CPU, bench: checks per second)."""
    import psycopg

    connection.ensure_connection()
    raw = connection.connection
    assert isinstance(raw, psycopg.Connection)
    with psycopg.Cursor(raw) as cursor:
        cursor.execute(sql, arrays)
        return cursor.fetchall() if fetch else []


def update_rows(rows: Sequence[models.Model], fields: list[str]) -> None:
    """Write these fields of these rows in one statement (PostgreSQL: UPDATE ... FROM unnest(column
    arrays); elsewhere one prepared UPDATE run for every row).

    Django's bulk_update builds a CASE expression per field and row; for a batch of 50 monitors that
    cost more CPU than running the checks, and one UPDATE per row cost a round of the protocol each
    (bench: checks per second)."""
    if not rows:
        return
    model = type(rows[0])
    meta = model._meta
    columns: list[models.Field[Any, Any]] = []
    for name in fields:
        field = meta.get_field(name)
        assert isinstance(field, models.Field)
        columns.append(field)
    pk = meta.pk
    assert pk is not None
    quote = connection.ops.quote_name
    if connection.vendor == "postgresql":
        names = [quote(str(f.column)) for f in columns] + [quote(str(pk.column))]
        arrays = [_column_values(rows, f, lambda row, name=f.attname: getattr(row, name)) for f in columns]
        arrays.append([row.pk for row in rows])
        unnest = ", ".join(f"%s::{f.db_type(connection)}[]" for f in [*columns, pk])
        array_statement(
            f"UPDATE {quote(meta.db_table)} AS t SET " + ", ".join(f"{name} = v.{name}" for name in names[:-1])
            + f" FROM unnest({unnest}) AS v({', '.join(names)}) WHERE t.{names[-1]} = v.{names[-1]}", arrays)
        return
    params = [[f.get_db_prep_save(getattr(row, f.attname), connection) for f in columns] + [pk.get_db_prep_save(row.pk, connection)]
              for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {quote(meta.db_table)} SET " + ", ".join(f"{quote(str(f.column))} = %s" for f in columns)
            + f" WHERE {quote(str(pk.column))} = %s", params)


def insert_rows(model: type[models.Model], fields: list[str], rows: Sequence[Sequence[Any]], *, ignore_conflicts: bool = False,
                returning: bool = False, unique_fields: Sequence[str] = (), update_fields: Sequence[str] = ()) -> list[Any]:
    """Insert rows given as tuples of these fields' values, in one statement; with `returning`, their
    primary keys in the rows' order (not with ignore_conflicts: a skipped row has none).

    With unique_fields and update_fields, a row whose unique fields exist already updates those
    fields instead, and only when one of them changes (an unchanged row is not written again).

    PostgreSQL: INSERT ... SELECT FROM unnest(column arrays) in the arrays' order, no model instance
    per row (they cost more than the insert for a batch of check results); elsewhere bulk_create."""
    assert not (returning and (ignore_conflicts or update_fields))
    if not rows:
        return []
    meta = model._meta
    columns: list[models.Field[Any, Any]] = []
    for name in fields:
        field = meta.get_field(name)
        assert isinstance(field, models.Field)
        columns.append(field)
    if connection.vendor != "postgresql":
        instances = [model(**dict(zip((f.attname for f in columns), row, strict=True))) for row in rows]
        if update_fields:
            made = model._default_manager.bulk_create(instances, update_conflicts=True, unique_fields=unique_fields,
                                                      update_fields=update_fields)
        else:
            made = model._default_manager.bulk_create(instances, ignore_conflicts=ignore_conflicts)
        return [item.pk for item in made] if returning else []
    quote = connection.ops.quote_name
    arrays = [_column_values(rows, f, lambda row, index=index: row[index]) for index, f in enumerate(columns)]
    unnest = ", ".join(f"%s::{f.db_type(connection)}[]" for f in columns)
    names = ", ".join(quote(str(f.column)) for f in columns)
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    if update_fields:
        keys = [quote(str(meta.get_field(name).column)) for name in unique_fields]  # type: ignore[union-attr]
        changed = [quote(str(meta.get_field(name).column)) for name in update_fields]  # type: ignore[union-attr]
        conflict = (f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET " + ", ".join(f"{name} = EXCLUDED.{name}" for name in changed)
                    + f" WHERE ({', '.join(f't.{name}' for name in changed)}) IS DISTINCT FROM ({', '.join(f'EXCLUDED.{name}' for name in changed)})")
    pk = meta.pk
    assert pk is not None
    # As Django's bulk_create does for VALUES, the keys come back in the order the rows went in.
    found = array_statement(
        f"INSERT INTO {quote(meta.db_table)} AS t ({names}) SELECT {names} FROM unnest({unnest}) WITH ORDINALITY AS v({names}, ordinal) "
        "ORDER BY ordinal" + conflict + (f" RETURNING {quote(str(pk.column))}" if returning else ""), arrays, fetch=returning)
    return [row[0] for row in found]
