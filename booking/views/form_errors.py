"""How a page says what is wrong with a form: its first error, with the field's label."""

from django import forms


def first_form_error(form: forms.Form) -> str:
    """The form's first error, with the label of the field it is about."""
    field, errors = next(iter(form.errors.items()))
    label = form.fields[field].label if field in form.fields else ""
    return f"{label}: {errors[0]}" if label else str(errors[0])
