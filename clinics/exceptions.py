"""Domain errors: each has a stable machine-readable code, an HTTP status and a message
in Thai and English (through gettext). The API maps them to responses in one place."""

from typing import Any, ClassVar

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    default_message: ClassVar[str | Promise] = _("The request could not be completed.")

    def __init__(self, message: str | Promise | None = None, **detail: Any) -> None:
        self.message = message if message is not None else self.default_message
        self.detail = detail
        super().__init__(str(self.message))


class NotFound(DomainError):
    code = "not_found"
    status = 404
    default_message = _("We could not find that.")


class NotSignedIn(DomainError):
    code = "not_signed_in"
    status = 401
    default_message = _("Please sign in first.")


class Forbidden(DomainError):
    code = "forbidden"
    status = 403
    default_message = _("You are not allowed to do this.")


class CsrfFailed(DomainError):
    code = "csrf_failed"
    status = 403
    default_message = _(
        "The security token is missing or out of date. Reload the page, or send the "
        "csrftoken cookie's value in the X-CSRFToken header."
    )


class InvalidInput(DomainError):
    """Input that is well-formed but breaks a rule; `field` names what to correct."""

    code = "invalid_input"
    status = 422
    default_message = _("Please check what you entered.")

    def __init__(self, message: str | Promise, *, field: str, **detail: Any) -> None:
        super().__init__(message, field=field, **detail)


class ScheduleOverlap(DomainError):
    code = "schedule_overlap"
    status = 409
    default_message = _(
        "This weekly schedule overlaps another one for the same service and clinician."
    )


class ServiceNotOffered(DomainError):
    code = "service_not_offered"
    status = 422
    default_message = _("This centre does not offer that service.")


class WrongSecondFactor(DomainError):
    code = "wrong_code"
    status = 401
    default_message = _(
        "That code is not right. Enter the 6-digit code your authenticator app shows now."
    )


class SecondFactorLocked(DomainError):
    code = "too_many_codes"
    status = 429
    default_message = _("Too many wrong codes. Wait 15 minutes and try again.")


class TooManyRequests(DomainError):
    code = "too_many_requests"
    status = 429
    default_message = _("Too many attempts. Please wait a little and try again.")

    def __init__(self, message: str | Promise | None = None, *, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
