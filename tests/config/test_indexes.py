"""The project's indexes, read from its models: each foreign key leads an index, and no index
repeats the first columns of another (every booking writes an entry in each index of the rows it
writes, so a repeated one costs every booking and answers nothing the other does not)."""

from dataclasses import dataclass

import pytest
from django.apps import apps
from django.db import connection, models
from django.db.models import Q

PROJECT_APPS = ("clinics", "notifications", "booking", "video")


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[str, ...]
    condition: Q | None
    unique: bool


def _columns(model: type[models.Model], fields: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    return tuple(model._meta.get_field(field.lstrip("-")).column for field in fields)


def _indexes(model: type[models.Model]) -> list[Index]:
    found = []
    for field in model._meta.local_concrete_fields:
        if field.primary_key or field.unique or field.db_index:
            found.append(
                Index(
                    name=f"{field.name} (its own)",
                    columns=(field.column,),
                    condition=None,
                    unique=field.primary_key or field.unique,
                )
            )
    for index in model._meta.indexes:
        if index.fields:
            found.append(Index(index.name, _columns(model, index.fields), index.condition, False))
    for constraint in model._meta.constraints:
        if isinstance(constraint, models.UniqueConstraint) and constraint.fields:
            found.append(
                Index(
                    constraint.name,
                    _columns(model, constraint.fields),
                    constraint.condition,
                    True,
                )
            )
    for fields in model._meta.unique_together:
        found.append(Index(f"unique_together {fields}", _columns(model, fields), None, True))
    return found


def _serves_look_ups_by_its_first_column(model: type[models.Model], index: Index) -> bool:
    """A look-up of `column = value` can use the index: it has no condition, or only that its
    first column is set (which an equality implies)."""
    if index.condition is None:
        return True
    first = next(f for f in model._meta.local_concrete_fields if f.column == index.columns[0])
    return index.condition == Q(**{f"{first.name}__isnull": False})


def _project_models() -> list[type[models.Model]]:
    return [
        model
        for label in PROJECT_APPS
        for model in apps.get_app_config(label).get_models()
        if model._meta.managed and not model._meta.proxy
    ]


def test_every_foreign_key_leads_an_index():
    unindexed = [
        f"{model._meta.label}.{field.name}"
        for model in _project_models()
        for field in model._meta.local_concrete_fields
        if isinstance(field, models.ForeignKey)
        and not any(
            index.columns[0] == field.column and _serves_look_ups_by_its_first_column(model, index)
            for index in _indexes(model)
        )
    ]

    assert unindexed == []


def test_no_index_repeats_the_first_columns_of_another():
    repeated = [
        f"{model._meta.label}: {shorter.name} {shorter.columns} is led by {longer.name}"
        for model in _project_models()
        for shorter in _indexes(model)
        if not shorter.unique and shorter.condition is None
        for longer in _indexes(model)
        if longer is not shorter
        and len(longer.columns) > len(shorter.columns)
        and longer.columns[: len(shorter.columns)] == shorter.columns
        and _serves_look_ups_by_its_first_column(model, longer)
    ]

    assert repeated == []


def _single_column_indexes(table: str) -> set[str]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return {
        details["columns"][0]
        for details in constraints.values()
        if details["index"] and not details["unique"] and len(details["columns"]) == 1
    }


def _has_own_index(model: type[models.Model], field: models.Field) -> bool:
    """The field's own index (db_index), or an index of the model on it alone (perhaps partial)."""
    return field.db_index or any(
        _columns(model, index.fields) == (field.column,) for index in model._meta.indexes
    )


@pytest.mark.django_db
def test_the_database_has_a_foreign_keys_index_where_the_models_say_and_nowhere_else():
    mismatched = [
        f"{model._meta.db_table}.{field.column}"
        for model in _project_models()
        for field in model._meta.local_concrete_fields
        if isinstance(field, models.ForeignKey)
        and not field.unique
        and _has_own_index(model, field)
        != (field.column in _single_column_indexes(model._meta.db_table))
    ]

    assert mismatched == []
