"""How a page reads what a form posted and says what is wrong with it: a row id, and the
form's first error with the field's label."""

import re

from django import forms


def row_id(raw: str) -> int | None:
    """A row id as a page posts it (1 to 18 ASCII digits), or None for anything else: an odd
    value, or digits of another script that int() would refuse."""
    return int(raw) if re.fullmatch(r"[0-9]{1,18}", raw) else None


def first_form_error(form: forms.Form) -> str:
    """The form's first error, with the label of the field it is about."""
    field, errors = next(iter(form.errors.items()))
    label = form.fields[field].label if field in form.fields else ""
    return f"{label}: {errors[0]}" if label else str(errors[0])
