"""Walk-ins: the model's constraints, adding one to today's queue (numbers, refusals, audit,
the live queue), the steps staff take and take back, and the order walk-ins and appointments
share on the queue."""

from datetime import date, time, timedelta

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.utils import timezone, translation

from booking.exceptions import AlreadyInQueue, InvalidWalkInStep
from booking.models import Appointment, Patient, WalkIn, WalkInCounter
from booking.models.walk_ins import queue_label
from booking.selectors import (
    QueueOrder,
    centre_queue_on,
    in_queue_order,
    patients_with,
    queue_order_for,
)
from booking.services import appointments as visits
from booking.services import queue_events
from booking.services.walk_ins import (
    WALK_IN_STEPS,
    add_walk_in,
    complete_walk_in,
    mark_walk_in_left,
    start_walk_in,
    undo_walk_in_left,
    undo_walk_in_start,
    walk_in_steps,
)
from clinics.exceptions import InvalidInput, NotFound, ServiceNotOffered
from clinics.models import AuditEvent, HealthCentre, Service
from clinics.permissions import StaffAction
from tests.factories import PatientFactory, SlotFactory, UserFactory, bangkok, booked, walked_in

pytestmark = pytest.mark.django_db

Status = WalkIn.Status
MONDAY = date(2026, 11, 30)  # the clock fixture's day


@pytest.fixture(autouse=True)
def in_english():
    """The refusals are read in English here, whatever an earlier test left active."""
    with translation.override("en"):
        yield


@pytest.fixture
def morning(clock: time_machine.Traveller) -> time_machine.Traveller:
    clock.move_to(bangkok(MONDAY, time(9, 10)))
    return clock


def everyone(action: StaffAction) -> bool:
    return True


# --- The model -----------------------------------------------------------------------------------


def test_the_label_is_the_letter_and_three_digits():
    assert queue_label(17) == "A-017"
    assert queue_label(5) == "A-005"
    assert queue_label(1234) == "A-1234"


def _row(patient: Patient, **fields: object) -> WalkIn:
    values: dict[str, object] = {
        "centre_id": 1,
        "day": MONDAY,
        "number": 1,
        "patient": patient,
        "service": Service.objects.get(code="general-checkup"),
        "status": Status.WAITING,
        "arrived_at": timezone.now(),
        "added_by": UserFactory(),
    }
    values.update(fields)
    return WalkIn(**values)


AT = bangkok(MONDAY, time(9))


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"number": 0}, id="number 0"),
        pytest.param({"status": "gone"}, id="unknown status"),
        pytest.param({"status": Status.IN_CONSULTATION}, id="being seen from no time"),
        pytest.param({"status": Status.COMPLETED, "finished_at": AT}, id="seen, never started"),
        pytest.param({"status": Status.LEFT}, id="left at no time"),
        pytest.param({"status": Status.WAITING, "finished_at": AT}, id="waiting but finished"),
        pytest.param(
            {"status": Status.LEFT, "started_at": AT, "finished_at": AT}, id="left once seen"
        ),
    ],
)
def test_the_database_refuses_a_walk_in_that_breaks_a_rule(patient, fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        _row(patient, **fields).save()


def test_a_number_is_given_once_per_centre_and_day(patient, other_patient):
    _row(patient).save()
    _row(other_patient, centre_id=2).save()
    _row(other_patient, day=MONDAY + timedelta(days=1)).save()

    with pytest.raises(IntegrityError), transaction.atomic():
        _row(other_patient).save()


def test_a_person_is_in_a_centres_queue_once_a_day(patient):
    _row(patient, status=Status.LEFT, finished_at=timezone.now()).save()
    _row(patient, number=2).save()  # back after leaving: a new number

    with pytest.raises(IntegrityError), transaction.atomic():
        _row(patient, number=3).save()


# --- Adding --------------------------------------------------------------------------------------


def test_walk_ins_get_the_days_next_number_at_their_centre(morning, patient, other_patient):
    first = walked_in(patient)
    second = walked_in(other_patient)
    elsewhere = walked_in(PatientFactory(), centre=2)

    assert (first.number, second.number, elsewhere.number) == (1, 2, 1)
    assert (first.label, second.label) == ("A-001", "A-002")
    assert first.day == MONDAY
    assert first.arrived_at == timezone.now()
    assert first.status == Status.WAITING
    assert WalkInCounter.objects.get(centre_id=1, day=MONDAY).last_number == 2


def test_numbers_start_again_each_day(morning, patient, other_patient):
    walked_in(patient)
    morning.move_to(bangkok(MONDAY + timedelta(days=1), time(8)))

    assert walked_in(other_patient).label == "A-001"


def test_adding_is_audited_with_who_and_the_number(morning, patient):
    nurse = UserFactory(username="nurse", is_staff=True)

    walk_in = walked_in(patient, by=nurse)

    event = AuditEvent.objects.get(action="walk_in.added")
    assert event.target_type == "walkin"
    assert event.target_id == walk_in.pk
    assert event.centre_id == 1
    assert event.patients == [patient.pk]
    assert event.details["number"] == 1
    assert event.details["status"] == "waiting"
    assert walk_in.added_by == nurse


def test_someone_checked_in_for_an_appointment_there_today_is_refused(clock, patient):
    appointment = booked(patient, SlotFactory(start=bangkok(MONDAY, time(9))))
    clock.move_to(bangkok(MONDAY, time(9, 10)))
    visits.check_in(appointment=appointment)

    with pytest.raises(AlreadyInQueue, match="already checked in for their 09:00 appointment"):
        walked_in(patient)
    assert not WalkIn.objects.exists()


def test_an_appointment_only_booked_or_at_another_centre_does_not_refuse(clock, patient):
    booked(patient, SlotFactory(start=bangkok(MONDAY, time(15))))
    elsewhere = booked(patient, SlotFactory(centre_id=2, start=bangkok(MONDAY, time(9))))
    clock.move_to(bangkok(MONDAY, time(9, 10)))
    visits.check_in(appointment=elsewhere)

    assert walked_in(patient).number == 1


def test_someone_already_waiting_is_refused_with_their_number(morning, patient):
    walked_in(patient)

    with pytest.raises(AlreadyInQueue, match="already in today's queue as A-001"):
        walked_in(patient)
    assert WalkIn.objects.count() == 1
    assert WalkInCounter.objects.get().last_number == 1  # the refusal took no number


def test_someone_who_left_may_come_back_with_a_new_number(morning, patient):
    mark_walk_in_left(walk_in=walked_in(patient))

    assert walked_in(patient).label == "A-002"


def test_a_service_the_centre_does_not_give_in_person_is_refused(morning, patient):
    centre = HealthCentre.objects.get(number=1)
    with pytest.raises(InvalidInput) as video:
        walked_in(patient, service="video-general")
    centre.services.remove(Service.objects.get(code="antenatal"))
    with pytest.raises(ServiceNotOffered):
        walked_in(patient, service="antenatal")

    assert video.value.detail["field"] == "service"
    assert not WalkIn.objects.exists()


def test_an_unknown_centre_is_not_found(morning, patient):
    with pytest.raises(NotFound):
        add_walk_in(
            centre_id=999,
            patient=patient,
            service=Service.objects.get(code="general-checkup"),
            by=UserFactory(),
        )


def test_the_live_queue_hears_a_walk_in_added_and_its_steps_once_committed(
    morning, patient, monkeypatch, django_capture_on_commit_callbacks
):
    heard: list[tuple[int, object, object]] = []
    monkeypatch.setattr(
        queue_events,
        "_send_now",
        lambda centre, message: heard.append((centre, message["walk_in_id"], message["change"])),
    )
    with django_capture_on_commit_callbacks(execute=True):
        walk_in = walked_in(patient)
        start_walk_in(walk_in=walk_in)
        assert heard == []  # nothing before the commit

    assert heard == [(1, walk_in.pk, "added"), (1, walk_in.pk, "in_consultation")]


# --- The steps -----------------------------------------------------------------------------------


def test_being_seen_then_seen_stamps_the_times_and_is_audited(morning, patient):
    walk_in = walked_in(patient)
    morning.shift(timedelta(minutes=20))
    started = start_walk_in(walk_in=walk_in)
    morning.shift(timedelta(minutes=15))
    done = complete_walk_in(walk_in=started)

    assert done.status == Status.COMPLETED
    assert done.started_at == bangkok(MONDAY, time(9, 30))
    assert done.finished_at == bangkok(MONDAY, time(9, 45))
    assert list(
        AuditEvent.objects.filter(target_type="walkin")
        .order_by("pk")
        .values_list("action", flat=True)
    ) == ["walk_in.added", "walk_in.in_consultation", "walk_in.completed"]
    assert AuditEvent.objects.filter(action="walk_in.completed").get().details["previous"] == (
        "in_consultation"
    )


def test_seen_straight_from_waiting(morning, patient):
    done = complete_walk_in(walk_in=walked_in(patient))

    assert done.status == Status.COMPLETED
    assert done.started_at == done.finished_at == timezone.now()


def test_a_step_out_of_turn_is_refused_and_changes_nothing(morning, patient):
    walk_in = walked_in(patient)
    complete_walk_in(walk_in=walk_in)

    for step in (start_walk_in, mark_walk_in_left, undo_walk_in_start, undo_walk_in_left):
        with pytest.raises(InvalidWalkInStep):
            step(walk_in=walk_in)
    walk_in.refresh_from_db()
    assert walk_in.status == Status.COMPLETED
    assert AuditEvent.objects.filter(target_type="walkin").count() == 2


def test_a_mistaken_start_or_left_is_taken_back_on_the_day(morning, patient):
    walk_in = walked_in(patient)
    undone = undo_walk_in_start(walk_in=start_walk_in(walk_in=walk_in))
    assert (undone.status, undone.started_at) == (Status.WAITING, None)

    back = undo_walk_in_left(walk_in=mark_walk_in_left(walk_in=undone))

    assert (back.status, back.finished_at, back.label) == (Status.WAITING, None, "A-001")
    assert AuditEvent.objects.filter(action="walk_in.waiting").count() == 2


def test_nothing_is_taken_back_on_a_later_day(morning, patient):
    walk_in = mark_walk_in_left(walk_in=walked_in(patient))
    morning.move_to(bangkok(MONDAY + timedelta(days=1), time(8)))

    with pytest.raises(InvalidWalkInStep, match="only on the walk-in's day"):
        undo_walk_in_left(walk_in=walk_in)
    assert walk_in_steps(walk_in, today=timezone.localdate(), may=everyone) == []


def test_left_is_not_taken_back_once_the_person_is_queued_again(morning, patient):
    first = mark_walk_in_left(walk_in=walked_in(patient))
    walked_in(patient)

    with pytest.raises(AlreadyInQueue, match="A-002"):
        undo_walk_in_left(walk_in=first)


def test_each_status_is_offered_the_steps_that_may_follow_it(morning, patient):
    walk_in = walked_in(patient)
    today = timezone.localdate()
    for status, expected in [
        (Status.WAITING, ["start", "complete", "left"]),
        (Status.IN_CONSULTATION, ["complete", "undo-start"]),
        (Status.COMPLETED, []),
        (Status.LEFT, ["undo-left"]),
    ]:
        walk_in.status = status
        assert [s.name for s in walk_in_steps(walk_in, today=today, may=everyone)] == expected


def test_the_desk_without_consulting_rights_is_offered_only_its_steps(morning, patient):
    walk_in = walked_in(patient)
    desk = [
        step.name
        for step in walk_in_steps(
            walk_in,
            today=timezone.localdate(),
            may=lambda action: action == StaffAction.RECEIVE_PATIENTS,
        )
    ]

    assert desk == ["left"]
    assert {step.needs for step in WALK_IN_STEPS.values()} == {
        StaffAction.CONSULT,
        StaffAction.RECEIVE_PATIENTS,
    }


# --- The queue's order ---------------------------------------------------------------------------


@pytest.fixture
def mixed_day(clock, reference_data):
    """Appointments at 09:00, 09:30 and 10:00; walk-ins arriving at 09:00, 09:10 and 09:40."""
    appointments = {
        hour: booked(PatientFactory(), SlotFactory(start=bangkok(MONDAY, hour)))
        for hour in (time(9), time(9, 30), time(10))
    }
    walk_ins = {}
    for arrival in (time(9), time(9, 10), time(9, 40)):
        clock.move_to(bangkok(MONDAY, arrival))
        walk_ins[arrival] = walked_in(PatientFactory())
    return appointments, walk_ins


def _names(queue: list[Appointment | WalkIn]) -> list[str]:
    return [
        entry.label
        if isinstance(entry, WalkIn)
        else f"{timezone.localtime(entry.slot.start):%H:%M}"
        for entry in queue
    ]


def test_by_time_a_walk_in_goes_after_the_appointments_of_its_minute_and_before_later_ones(
    mixed_day,
):
    appointments, walk_ins = mixed_day

    queue = in_queue_order(
        appointments.values(), reversed(walk_ins.values()), order=QueueOrder.BY_TIME
    )

    # A-001 came at 09:00 exactly: after the 09:00 appointment, which was promised that time.
    assert _names(queue) == ["09:00", "A-001", "A-002", "09:30", "A-003", "10:00"]


def test_walk_ins_who_arrived_at_the_same_moment_go_by_number(morning):
    first, second = walked_in(PatientFactory()), walked_in(PatientFactory())

    queue = in_queue_order([], [second, first], order=QueueOrder.BY_TIME)

    assert _names(queue) == ["A-001", "A-002"]


def test_appointments_first_puts_every_walk_in_after_them(mixed_day):
    appointments, walk_ins = mixed_day

    queue = in_queue_order(
        appointments.values(), walk_ins.values(), order=QueueOrder.APPOINTMENTS_FIRST
    )

    assert _names(queue) == ["09:00", "09:30", "10:00", "A-001", "A-002", "A-003"]


def test_the_centres_queue_follows_the_setting(mixed_day, settings):
    centre = HealthCentre.objects.get(number=1)
    assert queue_order_for(centre) == QueueOrder.BY_TIME
    assert _names(centre_queue_on(centre, MONDAY))[:3] == ["09:00", "A-001", "A-002"]

    settings.QUEUE_ORDER = "appointments_first"
    assert _names(centre_queue_on(centre, MONDAY))[:4] == ["09:00", "09:30", "10:00", "A-001"]

    settings.QUEUE_ORDER = "no such order"
    assert queue_order_for(centre) == QueueOrder.BY_TIME


# --- Finding the person --------------------------------------------------------------------------


def test_the_desk_finds_people_by_national_id_or_by_phone_with_their_household(reference_data):
    parent = PatientFactory(account=UserFactory(username="+66812345678"), phone="+66812345678")
    child = PatientFactory(
        account=parent.account, relationship=Patient.Relationship.CHILD, phone=""
    )

    assert list(patients_with(national_id=parent.national_id)) == [parent]
    assert set(patients_with(phone="+66812345678")) == {parent, child}
    assert list(patients_with()) == []


def test_nothing_is_found_for_an_unknown_id(reference_data):
    assert list(patients_with(national_id="1101700230708")) == []
