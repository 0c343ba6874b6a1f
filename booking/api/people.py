"""Turning API input about a person into the services' terms."""

from django.utils.translation import gettext_lazy as _

from booking.schemas import PersonIn
from booking.services.patients import PersonDetails
from clinics.exceptions import InvalidInput
from clinics.selectors import district_by_code


def person_details(payload: PersonIn) -> PersonDetails:
    district = None
    if payload.district_code is not None:
        district = district_by_code(payload.district_code)  # kept in this process
        if district is None:
            raise InvalidInput(
                _("There is no Bangkok district with that code."), field="district_code"
            )
    return PersonDetails(
        first_name=payload.first_name,
        last_name=payload.last_name,
        date_of_birth=payload.date_of_birth,
        sex=payload.sex,
        phone=payload.phone,
        national_id=payload.national_id,
        passport_number=payload.passport_number,
        preferred_language=payload.preferred_language,
        district=district,
        risk_groups=tuple(payload.risk_groups),
    )
