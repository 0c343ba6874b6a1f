"""How an HTML page shows what a service refused (a DomainError): the one home for the
`except DomainError` of the pages, as config/api.py is the one home of the API's answers.

- `refusal_caught()`: the page shows the refusal itself (next to the form it re-renders, or on
  an error page with the refusal's status).
- `refusal_flashed(request)`: the page redirects (POST, redirect, GET) and the next page says
  why, as a message.

Either way the `with` block ends at the refusal, and the Refusal it gave is true:

    with refusal_flashed(request) as refused:
        check_in(appointment=appointment)
    if not refused:
        messages.success(request, _("Checked in."))
    return HttpResponseRedirect(back, status=303)
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.contrib import messages
from django.forms import BaseForm
from django.http import HttpRequest

from clinics.exceptions import DomainError


@dataclass
class Refusal:
    """What a service refused inside the `with` block, if anything (then it is true)."""

    error: DomainError | None = None

    def __bool__(self) -> bool:
        return self.error is not None

    @property
    def message(self) -> str:
        """The refusal's message, in the active language ("" when nothing was refused)."""
        return "" if self.error is None else str(self.error.message)

    @property
    def status(self) -> int:
        """The HTTP status the API answers the refusal with (200 when nothing was refused)."""
        return 200 if self.error is None else self.error.status

    def add_to(self, form: BaseForm) -> None:
        """Show the refusal on a Django form: next to the field its `field` detail names, or
        at the top of the form when it names none the form has."""
        if self.error is None:
            return
        field = self.error.detail.get("field")
        form.add_error(field if field in form.fields else None, self.message)


@contextmanager
def refusal_caught() -> Iterator[Refusal]:
    """Run services for a page that shows their refusal itself: a DomainError ends the block
    and is kept in the Refusal rather than rising. Anything else rises as before."""
    refusal = Refusal()
    try:
        yield refusal
    except DomainError as error:
        refusal.error = error


@contextmanager
def refusal_flashed(request: HttpRequest) -> Iterator[Refusal]:
    """As refusal_caught, and the refusal's message is kept for the next page the request's
    browser opens (django.contrib.messages), for a page that redirects either way."""
    with refusal_caught() as refusal:
        yield refusal
    if refusal:
        messages.error(request, refusal.message)
