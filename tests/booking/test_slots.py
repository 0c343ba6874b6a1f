from datetime import UTC, date, time, timedelta

import pytest
from django.utils import timezone

from booking.exceptions import CapacityBelowBooked, SlotClosed
from booking.models import Appointment, Slot
from booking.services.appointments import cancel_appointment
from booking.services.schedules import (
    ScheduleFields,
    add_closure,
    create_schedule_template,
    end_schedule_template,
    remove_closure,
    update_schedule_template,
)
from booking.services.slots import extend_slot_horizon, set_slot_capacity, sync_slots
from clinics.exceptions import InvalidInput, ScheduleOverlap, ServiceNotOffered
from clinics.models import HealthCentre, PublicHoliday, ScheduleTemplate, Service
from tests.factories import ScheduleTemplateFactory, bangkok, booked

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 11, 30)


def fields_of(template: ScheduleTemplate, **changes: object) -> ScheduleFields:
    values = {
        "service": template.service,
        "clinician": template.clinician,
        "weekdays": template.weekdays,
        "start_time": template.start_time,
        "end_time": template.end_time,
        "slot_minutes": template.slot_minutes,
        "capacity": template.capacity,
        "valid_from": template.valid_from,
        "valid_until": template.valid_until,
    }
    values.update(changes)
    return ScheduleFields(**values)  # type: ignore[arg-type]


def days_with_slots(template: ScheduleTemplate) -> set[date]:
    return {timezone.localdate(start) for start in template.slots.values_list("start", flat=True)}


def test_sync_creates_slots_in_bangkok_time_for_each_weekday_of_the_horizon(reference_data):
    template = ScheduleTemplateFactory(weekdays="135", start_time=time(8, 30), end_time=time(9, 30))

    result = sync_slots(centre_ids=[1], start=MONDAY, end=MONDAY + timedelta(days=6))

    # Mon, Wed, Fri of the first week, 08:30-09:30 in 15-minute slots: 3 days x 4 slots.
    assert result.created == 12
    first = template.slots.order_by("start").first()
    assert first.start == bangkok(MONDAY, time(8, 30))
    assert first.start.astimezone(UTC).hour == 1  # 08:30 +07:00 is 01:30 UTC
    assert first.end - first.start == timedelta(minutes=15)
    assert first.capacity == template.capacity
    assert days_with_slots(template) == {MONDAY, MONDAY + timedelta(2), MONDAY + timedelta(4)}


def test_a_second_sync_creates_nothing(reference_data):
    ScheduleTemplateFactory()
    first = sync_slots()
    second = sync_slots()

    assert first.created > 0
    assert second.created == 0
    assert second.changed == 0


def test_the_default_horizon_is_eight_weeks(reference_data, settings):
    template = ScheduleTemplateFactory(weekdays="1234567")
    sync_slots()

    days = days_with_slots(template)
    assert min(days) == MONDAY
    assert max(days) == MONDAY + timedelta(weeks=8) - timedelta(days=1)


def test_slots_already_started_are_not_created(reference_data, clock):
    clock.move_to(bangkok(MONDAY, time(10, 0)))
    template = ScheduleTemplateFactory(weekdays="1", start_time=time(9, 0), end_time=time(11, 0))

    sync_slots(start=MONDAY, end=MONDAY)

    starts = [timezone.localtime(s).time() for s in template.slots.values_list("start", flat=True)]
    assert sorted(starts) == [time(10, 15), time(10, 30), time(10, 45)]


def test_public_holidays_that_close_centres_are_skipped(reference_data):
    template = ScheduleTemplateFactory(weekdays="1234567")
    sync_slots(start=MONDAY, end=date(2026, 12, 13))

    days = days_with_slots(template)
    assert date(2026, 12, 5) not in days  # King Bhumibol's birthday, National Day
    assert date(2026, 12, 7) not in days  # in lieu
    assert date(2026, 12, 10) not in days  # Constitution Day
    assert date(2026, 12, 8) in days


def test_staff_can_reopen_a_holiday_and_add_one(reference_data):
    template = ScheduleTemplateFactory(weekdays="1234567")
    sync_slots(start=MONDAY, end=date(2026, 12, 13))

    PublicHoliday.objects.filter(date=date(2026, 12, 10)).update(closes_centres=False)
    PublicHoliday.objects.create(date=date(2026, 12, 11), name_th="วันหยุดพิเศษ", name_en="Special")
    result = sync_slots(start=MONDAY, end=date(2026, 12, 13))

    days = days_with_slots(template)
    assert date(2026, 12, 10) in days
    assert date(2026, 12, 11) not in days
    assert result.created > 0
    assert result.removed > 0


def test_a_closure_removes_unbooked_slots_and_reports_booked_ones(reference_data, patient):
    template = ScheduleTemplateFactory(weekdays="12345")
    sync_slots()
    booked_slot = template.slots.filter(start__date=date(2026, 12, 1)).order_by("start").first()
    appointment = booked(patient, booked_slot)

    added = add_closure(
        centre=template.centre,
        start_date=date(2026, 12, 1),
        end_date=date(2026, 12, 2),
        reason_th="ปิดปรับปรุง",
    )

    assert [a.pk for a in added.affected] == [appointment.pk]
    assert added.slots.closed == 1
    assert added.slots.removed == 2 * 14 - 1
    booked_slot.refresh_from_db()
    assert booked_slot.closed
    assert booked_slot.booked == 1
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.BOOKED  # kept, for staff to follow up
    open_days = days_with_slots(template) - {date(2026, 12, 1)}
    assert date(2026, 12, 2) not in open_days


def test_a_closed_slot_takes_no_more_bookings_and_a_lifted_closure_reopens_it(
    reference_data, patient, other_patient
):
    template = ScheduleTemplateFactory(weekdays="12345")
    sync_slots()
    slot = template.slots.filter(start__date=date(2026, 12, 1)).order_by("start").first()
    booked(patient, slot)
    added = add_closure(
        centre=template.centre,
        start_date=date(2026, 12, 1),
        end_date=date(2026, 12, 1),
        reason_th="x",
    )

    with pytest.raises(SlotClosed):
        booked(other_patient, slot)

    result = remove_closure(closure=added.closure)
    slot.refresh_from_db()
    assert not slot.closed
    assert result.reopened == 1
    assert result.created == 13  # the unbooked slots of that day come back
    assert date(2026, 12, 1) in days_with_slots(template)


def test_a_city_wide_closure_closes_every_centre(reference_data):
    ScheduleTemplateFactory(centre=HealthCentre.objects.get(number=1))
    ScheduleTemplateFactory(centre=HealthCentre.objects.get(number=40))
    sync_slots()

    add_closure(
        centre=None, start_date=date(2026, 12, 1), end_date=date(2026, 12, 1), reason_th="x"
    )

    on_the_day = Slot.objects.filter(
        start__gte=bangkok(date(2026, 12, 1), time(0)),
        start__lt=bangkok(date(2026, 12, 2), time(0)),
    )
    assert not on_the_day.exists()
    assert Slot.objects.filter(centre_id=40).exists()


def test_a_closure_cannot_start_in_the_past(reference_data, centre_1):
    with pytest.raises(InvalidInput) as error:
        add_closure(
            centre=centre_1,
            start_date=date(2026, 11, 29),
            end_date=date(2026, 12, 1),
            reason_th="x",
        )
    assert error.value.detail["field"] == "start_date"


def test_raising_a_schedule_capacity_resizes_future_slots(reference_data):
    change = create_schedule_template(
        centre=HealthCentre.objects.get(number=1),
        fields=fields_of(ScheduleTemplateFactory.build(capacity=2)),
    )
    template = change.template

    updated = update_schedule_template(template=template, fields=fields_of(template, capacity=6))

    assert updated.slots.resized == template.slots.count()
    assert set(template.slots.values_list("capacity", flat=True)) == {6}


def test_shrinking_capacity_never_goes_below_what_is_booked(reference_data, patient, other_patient):
    template = create_schedule_template(
        centre=HealthCentre.objects.get(number=1),
        fields=fields_of(ScheduleTemplateFactory.build(capacity=4)),
    ).template
    slot = template.slots.order_by("start").first()
    for person in (patient, other_patient):
        booked(person, slot)

    update_schedule_template(template=template, fields=fields_of(template, capacity=1))

    slot.refresh_from_db()
    assert slot.capacity == 2 == slot.booked
    other = template.slots.exclude(pk=slot.pk).first()
    assert other.capacity == 1


def test_staff_capacity_is_kept_by_later_syncs_and_cannot_go_below_bookings(
    reference_data, patient
):
    template = ScheduleTemplateFactory(capacity=4)
    sync_slots()
    slot = template.slots.order_by("start").first()
    set_slot_capacity(slot=slot, capacity=10)
    sync_slots()
    slot.refresh_from_db()
    assert slot.capacity == 10

    booked(patient, slot)
    with pytest.raises(CapacityBelowBooked):
        set_slot_capacity(slot=slot, capacity=0)
    assert set_slot_capacity(slot=slot, capacity=1).capacity == 1


def test_ending_a_schedule_removes_free_slots_and_keeps_booked_ones(reference_data, patient):
    template = create_schedule_template(
        centre=HealthCentre.objects.get(number=1), fields=fields_of(ScheduleTemplateFactory.build())
    ).template
    slot = template.slots.order_by("start").first()
    appointment = booked(patient, slot)

    ended = end_schedule_template(template=template)

    assert ended.slots.affected_appointment_ids == [appointment.pk]
    assert list(template.slots.values_list("pk", flat=True)) == [slot.pk]


def test_a_slot_whose_bookings_were_cancelled_is_closed_not_deleted(reference_data, patient):
    template = ScheduleTemplateFactory()
    sync_slots()
    slot = template.slots.order_by("start").first()
    appointment = booked(patient, slot)
    cancel_appointment(appointment=appointment, enforce_cutoff=False)

    ScheduleTemplate.objects.filter(pk=template.pk).update(is_active=False)
    result = sync_slots()

    slot.refresh_from_db()
    assert slot.closed  # the cancelled appointment's history still points at it
    assert result.affected_appointment_ids == []


def test_past_slots_are_never_touched(reference_data, clock):
    template = ScheduleTemplateFactory(weekdays="1234567")
    sync_slots()
    clock.move_to(bangkok(MONDAY + timedelta(days=3), time(7, 0)))

    ScheduleTemplate.objects.filter(pk=template.pk).update(is_active=False)
    sync_slots()

    assert template.slots.filter(start__lt=timezone.now()).count() == 3 * 14


def test_a_schedule_for_a_service_the_centre_does_not_offer_is_refused(reference_data):
    centre = HealthCentre.objects.get(number=1)
    antenatal = Service.objects.get(code="antenatal")
    centre.services.remove(antenatal)

    with pytest.raises(ServiceNotOffered):
        create_schedule_template(
            centre=centre, fields=fields_of(ScheduleTemplateFactory.build(service=antenatal))
        )


def test_overlapping_schedules_for_the_same_service_are_refused(reference_data):
    centre = HealthCentre.objects.get(number=1)
    create_schedule_template(
        centre=centre, fields=fields_of(ScheduleTemplateFactory.build(weekdays="12"))
    )

    with pytest.raises(ScheduleOverlap):
        create_schedule_template(
            centre=centre,
            fields=fields_of(
                ScheduleTemplateFactory.build(weekdays="25", start_time=time(11), end_time=time(13))
            ),
        )
    # Afternoons, or other weekdays, are fine.
    create_schedule_template(
        centre=centre,
        fields=fields_of(
            ScheduleTemplateFactory.build(weekdays="25", start_time=time(13), end_time=time(15))
        ),
    )


def test_a_session_shorter_than_one_slot_is_refused(reference_data):
    with pytest.raises(InvalidInput) as error:
        create_schedule_template(
            centre=HealthCentre.objects.get(number=1),
            fields=fields_of(
                ScheduleTemplateFactory.build(
                    start_time=time(8, 0), end_time=time(8, 10), slot_minutes=15
                )
            ),
        )
    assert error.value.detail["field"] == "end_time"


def test_validity_dates_limit_the_days_with_slots(reference_data):
    template = ScheduleTemplateFactory(
        weekdays="1234567", valid_from=date(2026, 12, 14), valid_until=date(2026, 12, 20)
    )
    sync_slots()

    assert days_with_slots(template) == {date(2026, 12, 14) + timedelta(days=n) for n in range(7)}


def test_the_nightly_horizon_extension_loads_holidays_and_adds_a_day(reference_data, clock):
    template = ScheduleTemplateFactory(weekdays="1234567")
    extend_slot_horizon()
    last_day = max(days_with_slots(template))

    clock.move_to(bangkok(MONDAY + timedelta(days=1), time(1, 5)))
    result = extend_slot_horizon()

    assert result.created == 14
    assert max(days_with_slots(template)) == last_day + timedelta(days=1)


def test_a_schedules_service_cannot_change(reference_data):
    template = create_schedule_template(
        centre=HealthCentre.objects.get(number=1), fields=fields_of(ScheduleTemplateFactory.build())
    ).template
    flu = Service.objects.get(code="vaccine-influenza")
    with pytest.raises(InvalidInput) as error:
        update_schedule_template(template=template, fields=fields_of(template, service=flu))
    assert error.value.detail["field"] == "service"
    assert set(template.slots.values_list("service__code", flat=True)) == {"general-checkup"}


def test_a_new_clinician_on_a_schedule_takes_over_its_future_slots(
    reference_data, clinician_at_centre_1, nurse_at_centre_1
):
    template = create_schedule_template(
        centre=HealthCentre.objects.get(number=1),
        fields=fields_of(ScheduleTemplateFactory.build(), clinician=clinician_at_centre_1),
    ).template
    update_schedule_template(
        template=template, fields=fields_of(template, clinician=nurse_at_centre_1)
    )
    assert set(template.slots.values_list("clinician_id", flat=True)) == {nurse_at_centre_1.pk}


def test_sync_reports_only_the_slots_it_really_created(reference_data):
    ScheduleTemplateFactory()
    first = sync_slots()
    Slot.objects.filter(pk=Slot.objects.order_by("start").first().pk).delete()
    assert sync_slots().created == 1
    assert first.created == Slot.objects.count()
