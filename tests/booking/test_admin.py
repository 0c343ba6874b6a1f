from datetime import date, time

import pytest
from django.contrib import admin
from django.urls import reverse

from booking.models import Appointment, Patient, Slot, VaccinationDrive, VaccineLot
from booking.services.slots import sync_slots
from booking.vaccination.drives import create_drive
from clinics.models import Closure, HealthCentre, ScheduleTemplate
from notifications.models import Message
from tests.factories import (
    ScheduleTemplateFactory,
    SlotFactory,
    bangkok,
    booked,
    drive_fields,
    stock_up,
    vaccine,
)

pytestmark = pytest.mark.django_db


def changelist(model: type) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def test_every_admin_page_opens_for_a_city_administrator(
    reference_data, city_admin, client_for, patient
):
    ScheduleTemplateFactory()
    booked(patient, SlotFactory())
    stock_up(1, vaccine("vaccine-influenza"), 10)
    booked(
        patient,
        SlotFactory(
            service=vaccine("vaccine-influenza"), start=bangkok(date(2026, 12, 2), time(9, 0))
        ),
    )
    create_drive(fields=drive_fields(), created_by=city_admin)
    client = client_for(city_admin)
    for model, model_admin in admin.site._registry.items():
        response = client.get(changelist(model))
        assert response.status_code == 200, model
        first = model_admin.get_queryset(response.wsgi_request).first()
        if first is not None:
            url = reverse(
                f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[first.pk]
            )
            assert client.get(url).status_code == 200, model


def test_staff_see_only_their_own_centres_rows(
    reference_data, scheduler_at_centre_1, patient, other_patient, client_for
):
    ScheduleTemplateFactory(centre=HealthCentre.objects.get(number=1))
    elsewhere = ScheduleTemplateFactory(centre=HealthCentre.objects.get(number=2))
    mine = booked(patient, SlotFactory())
    theirs = booked(other_patient, SlotFactory(centre=HealthCentre.objects.get(number=2)))
    client = client_for(scheduler_at_centre_1)

    schedules = client.get(changelist(ScheduleTemplate))
    assert list(schedules.context["cl"].result_list) == [ScheduleTemplate.objects.get(centre_id=1)]
    appointments = client.get(changelist(Appointment))
    assert list(appointments.context["cl"].result_list) == [mine]
    patients = client.get(changelist(Patient))
    assert list(patients.context["cl"].result_list) == [patient]

    change_url = reverse("admin:clinics_scheduletemplate_change", args=[elsewhere.pk])
    assert client.get(change_url).status_code in {302, 403, 404}
    other_appointment = reverse("admin:booking_appointment_change", args=[theirs.pk])
    assert client.get(other_appointment).status_code in {302, 403, 404}


def test_the_national_id_is_never_shown_in_full_in_the_admin(
    reference_data, city_admin, patient, client_for
):
    booked(patient, SlotFactory())
    client = client_for(city_admin)
    page = client.get(reverse("admin:booking_patient_change", args=[patient.pk]))
    listing = client.get(changelist(Patient))
    assert patient.national_id not in page.content.decode()
    assert patient.national_id not in listing.content.decode()
    assert patient.masked_national_id in page.content.decode()


def test_a_closure_added_in_the_admin_reports_booked_appointments(
    reference_data, scheduler_at_centre_1, patient, client_for
):
    ScheduleTemplateFactory()
    sync_slots()
    slot = Slot.objects.filter(start__gte=bangkok(date(2026, 12, 1), time(0))).order_by("start")[0]
    booked(patient, slot)

    response = client_for(scheduler_at_centre_1).post(
        reverse("admin:clinics_closure_add"),
        {
            "centre": 1,
            "start_date": "2026-12-01",
            "end_date": "2026-12-01",
            "reason_th": "ปิดซ่อมบำรุง",
            "reason_en": "",
        },
        follow=True,
    )

    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert any("1 booked appointments are in closed slots" in m for m in messages), messages
    slot.refresh_from_db()
    assert slot.closed


def test_a_closure_in_the_past_is_a_form_error_not_a_crash(
    reference_data, scheduler_at_centre_1, client_for
):
    response = client_for(scheduler_at_centre_1).post(
        reverse("admin:clinics_closure_add"),
        {"centre": 1, "start_date": "2026-11-01", "end_date": "2026-11-02", "reason_th": "x"},
    )
    assert response.status_code == 200
    assert "A closure cannot start in the past." in response.content.decode()
    assert not Closure.objects.exists()


def test_a_scheduler_cannot_close_every_centre_in_the_admin(
    reference_data, scheduler_at_centre_1, client_for
):
    response = client_for(scheduler_at_centre_1).post(
        reverse("admin:clinics_closure_add"),
        {"centre": "", "start_date": "2026-12-01", "end_date": "2026-12-01", "reason_th": "x"},
    )
    assert response.status_code == 200
    assert not Closure.objects.exists()


def test_a_weekly_schedule_saved_in_the_admin_creates_its_slots(
    reference_data, scheduler_at_centre_1, client_for
):
    response = client_for(scheduler_at_centre_1).post(
        reverse("admin:clinics_scheduletemplate_add"),
        {
            "centre": 1,
            "service": ScheduleTemplateFactory.build().service.pk,
            "weekdays": ["2", "4"],
            "start_time": "13:00",
            "end_time": "15:00",
            "slot_minutes": 20,
            "capacity": 2,
            "valid_from": "2026-11-30",
            "is_active": "on",
        },
        follow=True,
    )
    assert response.status_code == 200
    template = ScheduleTemplate.objects.get()
    assert template.weekdays == "24"
    # Tuesdays and Thursdays for 8 weeks, less two Thursday holidays: 10 and 31 December.
    assert template.slots.count() == (8 * 2 - 2) * 6


def test_an_overlapping_schedule_is_a_form_error_in_the_admin(
    reference_data, scheduler_at_centre_1, client_for
):
    existing = ScheduleTemplateFactory()
    response = client_for(scheduler_at_centre_1).post(
        reverse("admin:clinics_scheduletemplate_add"),
        {
            "centre": 1,
            "service": existing.service.pk,
            "weekdays": ["1"],
            "start_time": "09:00",
            "end_time": "10:00",
            "slot_minutes": 15,
            "capacity": 2,
            "valid_from": "2026-11-30",
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    assert "overlaps another one" in response.content.decode()
    assert ScheduleTemplate.objects.count() == 1


def test_slot_capacity_below_bookings_is_a_form_error(
    reference_data, scheduler_at_centre_1, patient, client_for
):
    slot = SlotFactory(capacity=3)
    booked(patient, slot)
    response = client_for(scheduler_at_centre_1).post(
        reverse("admin:booking_slot_change", args=[slot.pk]), {"capacity": 0}
    )
    assert response.status_code == 200
    assert "1 people are booked" in response.content.decode()
    slot.refresh_from_db()
    assert slot.capacity == 3


def test_admin_actions_check_in_through_the_engine(
    reference_data, nurse_at_centre_1, patient, client_for, clock
):
    appointment = booked(patient, SlotFactory(start=bangkok(date(2026, 11, 30), time(10, 0))))
    response = client_for(nurse_at_centre_1).post(
        changelist(Appointment),
        {"action": "action_check_in", "_selected_action": [appointment.pk]},
        follow=True,
    )
    assert response.status_code == 200
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CHECKED_IN


def test_a_centre_admin_cannot_renumber_a_centre_onto_another(reference_data, client_for):
    from clinics.models import StaffMembership
    from clinics.services import grant_membership
    from tests.factories import UserFactory

    admin_of_1 = UserFactory(username="centre-admin-1", is_staff=True)
    grant_membership(
        user=admin_of_1,
        centre=HealthCentre.objects.get(number=1),
        role=StaffMembership.Role.CENTRE_ADMIN,
    )
    centre_1 = HealthCentre.objects.get(number=1)
    client_for(admin_of_1).post(
        reverse("admin:clinics_healthcentre_change", args=[1]),
        {
            "number": 5,
            "name_th": "HIJACKED",
            "name_en": "x",
            "short_name_th": "x",
            "abbrev_th": "x",
            "district": centre_1.district_id,
            "latitude": centre_1.latitude,
            "longitude": centre_1.longitude,
            "services": [],
        },
    )
    assert HealthCentre.objects.get(number=5).name_th != "HIJACKED"
    assert HealthCentre.objects.get(number=1).name_th == "HIJACKED"  # it edited its own centre


def test_the_admin_shows_a_centres_details_but_leaves_them_to_the_audited_page(
    reference_data, client_for, city_admin
):
    centre_1 = HealthCentre.objects.get(number=1)
    url = reverse("admin:clinics_healthcentre_change", args=[1])

    page = client_for(city_admin).get(url).content.decode()
    client_for(city_admin).post(
        url,
        {
            "name_th": centre_1.name_th,
            "name_en": centre_1.name_en,
            "short_name_th": centre_1.short_name_th,
            "abbrev_th": centre_1.abbrev_th,
            "district": centre_1.district_id,
            "latitude": centre_1.latitude,
            "longitude": centre_1.longitude,
            "services": [],
            "phone": "021234567",
            "postcode": "",
        },
    )

    centre_1.refresh_from_db()
    assert 'name="phone"' not in page
    assert (centre_1.phone, centre_1.postcode) == ("", "10200")


def test_staff_who_receive_a_patient_correct_them_through_the_engine(
    reference_data, staff_at_centre_2, scheduler_at_centre_1, patient, client_for
):
    booked(patient, SlotFactory())
    url = reverse("admin:booking_patient_change", args=[patient.pk])
    form = {
        "first_name": "สมชาย",
        "last_name": "แก้ไข",
        "phone": "086 777 1234",
        "preferred_language": "th",
        "district": 1001,
    }
    refused = client_for(staff_at_centre_2).post(url, form)  # the patient never went there
    assert refused.status_code in {302, 403}
    patient.refresh_from_db()
    assert patient.last_name != "แก้ไข"
    their_phone = client_for(patient)
    client_for(scheduler_at_centre_1).post(url, form)

    patient.refresh_from_db()
    patient.account.refresh_from_db()
    assert patient.last_name == "แก้ไข"
    assert patient.phone == "+66867771234"
    assert patient.account.username == "+66867771234"
    # Staff who see the person move the sign-in: the old sessions end, the old number is told.
    assert their_phone.get("/api/v1/auth/me").status_code == 401
    notice = Message.objects.get(kind=Message.Kind.ACCOUNT_NOTICE)
    assert notice.recipient == "+66810000001"

    bad = client_for(scheduler_at_centre_1).post(url, {**form, "phone": "not a phone"})
    assert "Enter a valid phone number" in bad.content.decode()


def test_a_schedule_saved_inactive_makes_no_slots_and_ticking_active_brings_them(
    reference_data, scheduler_at_centre_1, client_for
):
    client = client_for(scheduler_at_centre_1)
    form = {
        "centre": 1,
        "service": ScheduleTemplateFactory.build().service.pk,
        "weekdays": ["2"],
        "start_time": "13:00",
        "end_time": "14:00",
        "slot_minutes": 30,
        "capacity": 2,
        "valid_from": "2026-11-30",
    }
    client.post(reverse("admin:clinics_scheduletemplate_add"), form)
    template = ScheduleTemplate.objects.get()
    assert not template.is_active
    assert not template.slots.exists()

    client.post(
        reverse("admin:clinics_scheduletemplate_change", args=[template.pk]),
        {**form, "is_active": "on"},
    )
    template.refresh_from_db()
    assert template.is_active
    assert template.slots.count() == 8 * 2


def test_a_holiday_changed_in_the_admin_makes_no_slots_beyond_the_horizon(
    reference_data, city_admin, client_for
):
    from clinics.models import PublicHoliday

    ScheduleTemplateFactory(weekdays="1234567")
    far = PublicHoliday.objects.get(date=date(2027, 6, 3))
    client_for(city_admin).post(
        reverse("admin:clinics_publicholiday_change", args=[far.pk]),
        {
            "date": "2027-06-03",
            "name_th": far.name_th,
            "name_en": far.name_en,
            "source": far.source,
        },
    )
    far.refresh_from_db()
    assert not far.closes_centres
    assert not Slot.objects.filter(start__date__gte=date(2027, 1, 30)).exists()


def test_withdrawing_a_service_in_the_admin_closes_its_slots(
    reference_data, city_admin, patient, client_for
):
    template = ScheduleTemplateFactory()
    sync_slots()
    service = template.service
    client_for(city_admin).post(
        reverse("admin:clinics_service_change", args=[service.pk]),
        {
            "code": service.code,
            "kind": service.kind,
            "visit_mode": service.visit_mode,
            "name_th": service.name_th,
            "name_en": service.name_en,
            "default_slot_minutes": 15,
            "booking_cutoff_minutes": 60,
            "cancellation_cutoff_minutes": 120,
            "doses-TOTAL_FORMS": 0,
            "doses-INITIAL_FORMS": 0,
        },
    )
    service.refresh_from_db()
    assert not service.is_active
    assert not Slot.objects.filter(service=service, closed=False).exists()


def test_a_city_administrator_releases_a_drive_and_withdraws_a_lot_from_the_admin(
    reference_data, city_admin, client_for
):
    flu = vaccine("vaccine-influenza")
    lot = stock_up(1, flu, 40)
    stock_up(2, flu, 40)
    drive = create_drive(fields=drive_fields(), created_by=city_admin)
    client = client_for(city_admin)

    client.post(
        changelist(VaccinationDrive),
        {"action": "release_now", "_selected_action": [drive.pk]},
    )
    client.post(changelist(VaccineLot), {"action": "withdraw", "_selected_action": [lot.pk]})

    drive.refresh_from_db()
    lot.refresh_from_db()
    assert drive.status == VaccinationDrive.Status.SCHEDULED
    assert Slot.objects.filter(drive=drive).count() == 32
    assert lot.withdrawn_at is not None
    assert (
        sum(Slot.objects.filter(drive=drive, centre_id=1).values_list("capacity", flat=True)) == 0
    )


def test_a_delivery_recorded_in_the_admin_goes_through_the_stock_rules(
    reference_data, nurse_at_centre_1, client_for
):
    add = reverse("admin:booking_vaccinelot_add")
    form = {
        "centre": 1,
        "service": vaccine("vaccine-influenza").pk,
        "lot_number": "FLU-9",
        "expires_on": "2027-01-31",
        "doses_received": 25,
    }

    expired = client_for(nurse_at_centre_1).post(add, {**form, "expires_on": "2026-11-01"})
    assert expired.status_code == 200
    assert "This lot has already expired." in expired.content.decode()
    assert not VaccineLot.objects.exists()

    client_for(nurse_at_centre_1).post(add, form)
    assert VaccineLot.objects.get(lot_number="FLU-9").doses_received == 25
    elsewhere = client_for(nurse_at_centre_1).post(add, {**form, "centre": 2})
    assert elsewhere.status_code == 200  # the form refuses a centre that is not theirs
    assert VaccineLot.objects.count() == 1


def test_a_centre_cannot_be_renamed_to_a_spreadsheet_formula_in_the_admin(
    reference_data, client_for, admin_at_centre_1
):
    centre_1 = HealthCentre.objects.get(number=1)
    response = client_for(admin_at_centre_1).post(
        reverse("admin:clinics_healthcentre_change", args=[1]),
        {
            "name_th": centre_1.name_th,
            "name_en": '=HYPERLINK("http://evil.example","Centre 1")',
            "short_name_th": centre_1.short_name_th,
            "abbrev_th": centre_1.abbrev_th,
            "district": centre_1.district_id,
            "latitude": centre_1.latitude,
            "longitude": centre_1.longitude,
            "services": list(centre_1.services.values_list("pk", flat=True)),
        },
    )

    assert response.status_code == 200  # the form again, with the error
    assert "spreadsheets would run it" in response.content.decode()
    assert HealthCentre.objects.get(number=1).name_en == centre_1.name_en
