"""What the desk reads: finding a person (by national ID, phone or name and date of birth), one
person's record and coming appointments, and the open times at the centre on a day.

Staff with StaffAction.BOOK_FOR_PATIENTS at a centre may find anyone in the city (people go to
the centre nearest to them, whichever one they registered from); every search is recorded by
booking.services.desk.search_people, which is how pages and the API search."""

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from booking.models import Appointment, Patient, Slot
from booking.selectors.slots import day_bounds
from booking.services.patients import normalise_national_id, normalise_phone
from clinics.exceptions import InvalidInput, NotFound
from clinics.models import HealthCentre

# A search by name is for telling a few people apart, not for browsing the city's records.
MOST_PEOPLE_FOUND = 20
SHORTEST_NAME = 2


class SearchBy(StrEnum):
    NATIONAL_ID = "national_id"
    PHONE = "phone"
    NAME = "name"


@dataclass(frozen=True)
class PersonQuery:
    """Who the desk looks for, tidied: one way of finding a person."""

    by: SearchBy
    national_id: str = ""
    phone: str = ""
    name_words: tuple[str, ...] = ()
    date_of_birth: date | None = None


def person_query(
    *, national_id: str = "", phone: str = "", name: str = "", date_of_birth: date | None = None
) -> PersonQuery:
    """The search as typed, checked: a national ID (13 digits, its check digit right), a phone
    number, or a name with a date of birth. The first one given is used; InvalidInput names the
    field to correct."""
    if national_id.strip():
        return PersonQuery(by=SearchBy.NATIONAL_ID, national_id=normalise_national_id(national_id))
    if phone.strip():
        return PersonQuery(by=SearchBy.PHONE, phone=normalise_phone(phone))
    words = tuple(name.split())
    if words:
        if sum(len(word) for word in words) < SHORTEST_NAME:
            raise InvalidInput(_("Enter more of the name."), field="name")
        if date_of_birth is None:
            raise InvalidInput(
                _("Enter the date of birth too: a name alone finds too many people."),
                field="date_of_birth",
            )
        return PersonQuery(by=SearchBy.NAME, name_words=words, date_of_birth=date_of_birth)
    raise InvalidInput(
        _("Enter a national ID, a phone number, or a name and date of birth."),
        field="national_id",
    )


def people_matching(query: PersonQuery) -> list[Patient]:
    """The people the query finds, at most MOST_PEOPLE_FOUND: the record of the national ID;
    everyone on the account a phone signs in to, and anyone whose own phone it is; or everyone
    of that date of birth whose first or last name holds each word typed."""
    people = Patient.objects.select_related("account", "district")
    if query.by == SearchBy.NATIONAL_ID:
        people = people.filter(national_id=query.national_id)
    elif query.by == SearchBy.PHONE:
        account = get_user_model().objects.filter(username=query.phone).first()
        on_account = Q(account=account) if account is not None else Q(pk__in=[])
        people = people.filter(on_account | Q(phone=query.phone))
    else:
        assert query.date_of_birth is not None  # person_query asks for it with a name
        people = people.filter(date_of_birth=query.date_of_birth)
        for word in query.name_words:
            people = people.filter(Q(first_name__icontains=word) | Q(last_name__icontains=word))
    return list(people.order_by("account_id", "pk")[:MOST_PEOPLE_FOUND])


def person_for_desk(patient_id: int) -> Patient:
    """One person's record, with their household's holder to say whose account it is in."""
    person = Patient.objects.select_related("account", "district").filter(pk=patient_id).first()
    if person is None:
        raise NotFound(_("There is no such person on file."), field="patient_id")
    return person


def account_holder_of(person: Patient) -> Patient | None:
    """The account holder of the household the person is in (themselves for a holder)."""
    if person.relationship == Patient.Relationship.SELF:
        return person
    return Patient.objects.filter(
        account_id=person.account_id, relationship=Patient.Relationship.SELF
    ).first()


def coming_appointments_of(person: Patient) -> QuerySet[Appointment]:
    """The person's appointments still to come, at any centre, in time order."""
    return (
        Appointment.objects.filter(
            patient=person, status__in=Appointment.UPCOMING, slot__end__gt=timezone.now()
        )
        .select_related("slot__service", "slot__centre__district")
        .order_by("slot__start", "pk")
    )


def open_times_at(centre: HealthCentre, day: date) -> QuerySet[Slot]:
    """The centre's times on the day that the desk can still book: open, not full, released,
    not over yet, of a service the centre offers. The online cut-off does not apply at the
    desk: someone standing there may take a time that starts in five minutes."""
    start, end = day_bounds(day)
    now = timezone.now()
    offered = HealthCentre.services.through.objects.filter(
        healthcentre_id=OuterRef("centre_id"), service_id=OuterRef("service_id")
    )
    return (
        Slot.objects.filter(
            centre=centre,
            start__gte=start,
            start__lt=end,
            end__gt=now,
            closed=False,
            service__is_active=True,
        )
        .filter(Q(opens_at__isnull=True) | Q(opens_at__lte=now))
        .filter(Exists(offered))
        .filter(is_full=False)
        .select_related("service", "drive")
        .order_by("start", "service__code", "pk")
    )
