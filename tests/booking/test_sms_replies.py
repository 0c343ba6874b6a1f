"""Replying 1 or 2 by text confirms or cancels the next appointment of the people texts to
the number are about (booking.services.sms_replies, reached through the Twilio webhook)."""

from datetime import date, time, timedelta

import pytest

from booking.models import Appointment
from clinics.models import HealthCentre
from notifications.models import InboundMessage, Message
from tests.factories import PatientFactory, SlotFactory, bangkok, booked
from tests.twilio_webhooks import last_reply, reply

pytestmark = pytest.mark.django_db

Kind = Message.Kind
Status = Message.Status
MONDAY = date(2026, 11, 30)


@pytest.mark.parametrize("body", ["1", "C", " c ", "ยืนยัน"])
def test_replying_1_confirms_the_next_appointment(fake_twilio, tomorrow_visit, body):
    response = reply(fake_twilio, body)

    tomorrow_visit.refresh_from_db()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert tomorrow_visit.confirmed_at is not None
    assert InboundMessage.objects.get().outcome == InboundMessage.Outcome.CONFIRMED
    assert last_reply().status == Status.PENDING


@pytest.mark.parametrize("body", ["2", "x", "ยกเลิก"])
def test_replying_2_cancels_the_next_appointment_with_one_reply(fake_twilio, tomorrow_visit, body):
    reply(fake_twilio, body)

    tomorrow_visit.refresh_from_db()
    assert tomorrow_visit.status == Appointment.Status.CANCELLED
    assert InboundMessage.objects.get().outcome == InboundMessage.Outcome.CANCELLED
    assert not Message.objects.filter(kind=Kind.CANCELLED).exists()  # the reply says it
    assert Message.objects.filter(kind=Kind.REPLY).count() == 1


def test_replying_2_too_close_to_the_visit_cancels_nothing(fake_twilio, tomorrow_visit, daytime):
    daytime.move_to(tomorrow_visit.slot.start - timedelta(minutes=60))  # cut-off is 120

    reply(fake_twilio, "2")

    tomorrow_visit.refresh_from_db()
    assert tomorrow_visit.status == Appointment.Status.BOOKED
    assert InboundMessage.objects.get().outcome == InboundMessage.Outcome.TOO_LATE
    assert "สะพานมอญ" in last_reply().body


def test_too_late_to_cancel_gives_the_centre_s_phone_as_people_write_it(
    fake_twilio, tomorrow_visit, daytime
):
    HealthCentre.objects.filter(pk=tomorrow_visit.slot.centre_id).update(phone="+6621234567")
    daytime.move_to(tomorrow_visit.slot.start - timedelta(minutes=60))

    reply(fake_twilio, "2")

    answer = last_reply().body
    assert "02 123 4567" in answer
    assert "สะพานมอญ" in answer
    assert "+66" not in answer


def test_a_reply_acts_on_the_dependants_next_appointment_for_the_guardian(
    fake_twilio, patient, daytime
):
    child = PatientFactory(account=patient.account, relationship="child", phone="")
    visit = booked(child, SlotFactory(start=bangkok(MONDAY + timedelta(days=2), time(9))))

    reply(fake_twilio, "1")

    visit.refresh_from_db()
    assert visit.confirmed_at is not None


def test_a_number_written_unproven_on_someone_elses_dependant_cannot_act_for_them(
    fake_twilio, other_patient, daytime
):
    stranger = "+66899990000"
    child = PatientFactory(account=other_patient.account, relationship="child", phone=stranger)
    visit = booked(child, SlotFactory(start=bangkok(MONDAY + timedelta(days=2), time(9))))

    reply(fake_twilio, "2", sender=stranger)

    visit.refresh_from_db()
    assert visit.status == Appointment.Status.BOOKED
    assert InboundMessage.objects.get().outcome == InboundMessage.Outcome.NO_APPOINTMENT


def test_a_dependants_proven_number_acts_on_their_appointment(fake_twilio, patient, daytime):
    child = PatientFactory(
        account=patient.account,
        relationship="child",
        phone="+66899990000",
        phone_verified_at=bangkok(MONDAY, time(9)),
    )
    visit = booked(child, SlotFactory(start=bangkok(MONDAY + timedelta(days=2), time(9))))

    reply(fake_twilio, "1", sender="+66899990000")

    visit.refresh_from_db()
    assert visit.confirmed_at is not None


def test_a_reply_with_no_appointment_says_so(fake_twilio, patient, daytime):
    reply(fake_twilio, "1")

    assert InboundMessage.objects.get().outcome == InboundMessage.Outcome.NO_APPOINTMENT
