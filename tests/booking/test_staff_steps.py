"""The staff steps' one table: what the queue offers for each status, to whom, and that the
queue page, the staff API and the admin all take their steps from it."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from booking.admin.appointments import AppointmentAdmin
from booking.exceptions import InvalidStatusChange
from booking.models import Appointment, Patient
from booking.services.staff_steps import STEPS, queue_steps, take_step
from clinics.models import AuditEvent
from clinics.permissions import StaffAction
from tests.factories import SlotFactory, booked

pytestmark = pytest.mark.django_db

Status = Appointment.Status


def everyone(action: StaffAction) -> bool:
    return True


def offered(appointment: Appointment, **options) -> list[str]:
    now = options.pop("now", None)
    may = options.pop("may", everyone)
    return [step.name for step in queue_steps(appointment, now=now or timezone.now(), may=may)]


@pytest.fixture
def appointment(patient: Patient, clock: time_machine.Traveller) -> Appointment:
    """Booked for an hour from now, today; the patient's identity not yet checked."""
    slot = SlotFactory(start=timezone.now() + timedelta(hours=1))
    return booked(patient, slot)


def test_a_booked_visit_is_offered_check_in_start_and_the_id_check_but_no_show_only_once_started(
    appointment: Appointment,
) -> None:
    assert offered(appointment) == ["check-in", "start", "verify-id"]
    started = appointment.slot.start + timedelta(minutes=1)
    assert offered(appointment, now=started) == ["check-in", "start", "no-show", "verify-id"]


def test_each_status_is_offered_the_steps_that_may_follow_it(
    appointment: Appointment,
) -> None:
    appointment.patient.identity_verified_at = timezone.now()
    for status, expected in [
        (Status.BOOKED, ["check-in", "start"]),
        (Status.CHECKED_IN, ["start", "complete", "undo-check-in"]),
        (Status.IN_CONSULTATION, ["complete"]),
        (Status.COMPLETED, []),
        (Status.NO_SHOW, ["check-in", "undo-no-show"]),
        (Status.CANCELLED, []),
    ]:
        appointment.status = status
        assert offered(appointment) == expected, status


def test_only_the_steps_one_may_take_are_offered(appointment: Appointment) -> None:
    desk_only = offered(appointment, may=lambda action: action == StaffAction.RECEIVE_PATIENTS)

    assert desk_only == ["check-in", "verify-id"]


def test_a_step_out_of_turn_is_refused_by_its_service(appointment: Appointment) -> None:
    with pytest.raises(InvalidStatusChange):
        take_step(STEPS["no-show"], appointment=appointment)  # not started yet

    checked_in = take_step(STEPS["check-in"], appointment=appointment)

    assert checked_in.status == Status.CHECKED_IN
    appointment.refresh_from_db()
    assert appointment.status == Status.CHECKED_IN


def test_the_admin_offers_the_table_s_steps_under_their_old_names() -> None:
    names = [action.__name__ for action in AppointmentAdmin.actions]

    assert names == [
        "action_check_in",
        "action_start_consultation",
        "action_complete_appointment",
        "action_mark_no_show",
        "action_undo_check_in",
        "action_undo_no_show",
        "action_cancel_appointment",
    ]
    assert all(
        STEPS[step].admin_label is not None
        for step in ("check-in", "start", "complete", "no-show", "cancel")
    )
    assert STEPS["verify-id"].admin_label is None


def test_a_step_taken_by_mistake_is_taken_back_on_the_day_only(
    appointment: Appointment, clock: time_machine.Traveller
) -> None:
    checked_in = take_step(STEPS["check-in"], appointment=appointment)
    assert checked_in.checked_in_at is not None

    expected_again = take_step(STEPS["undo-check-in"], appointment=appointment)

    assert (expected_again.status, expected_again.checked_in_at) == (Status.BOOKED, None)
    assert AuditEvent.objects.filter(
        target_id=appointment.pk, action="appointment.booked", details__previous="checked_in"
    ).exists()
    clock.move_to(appointment.slot.start + timedelta(minutes=5))
    marked = take_step(STEPS["no-show"], appointment=appointment)
    assert offered(marked, now=timezone.now())[:2] == ["check-in", "undo-no-show"]
    take_step(STEPS["undo-no-show"], appointment=appointment)
    appointment.refresh_from_db()
    assert appointment.status == Status.BOOKED
    take_step(STEPS["no-show"], appointment=appointment)
    turned_up = take_step(STEPS["check-in"], appointment=appointment)  # came after all
    assert turned_up.status == Status.CHECKED_IN

    clock.move_to(appointment.slot.start + timedelta(days=1))
    assert "undo-check-in" not in offered(turned_up, now=timezone.now())
    with pytest.raises(InvalidStatusChange):
        take_step(STEPS["undo-check-in"], appointment=turned_up)  # not the next day
