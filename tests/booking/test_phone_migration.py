"""The migration that adds phone_verified_at: account holders who signed in with their phone
proved it; a phone written on a dependant never was."""

import importlib

import pytest
from django.apps import apps

from booking.models import Patient
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.django_db

migration = importlib.import_module("booking.migrations.0008_patient_phone_verified_at")


def test_existing_holders_sign_in_phones_are_proven_and_dependants_phones_are_not(patient):
    child = PatientFactory(account=patient.account, relationship="child", phone="+66899990000")
    own_number_child = PatientFactory(
        account=patient.account, relationship="child", phone=patient.phone
    )
    moved_away = PatientFactory(account=UserFactory(username="+66810000009"), phone="+66810000008")
    Patient.objects.update(phone_verified_at=None)

    migration.account_holders_signed_up_with_a_passcode(apps, None)

    proven = set(
        Patient.objects.filter(phone_verified_at__isnull=False).values_list("pk", flat=True)
    )
    assert proven == {patient.pk}
    assert {child.pk, own_number_child.pk, moved_away.pk}.isdisjoint(proven)
