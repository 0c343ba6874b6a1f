import pytest
from django.core.management import call_command

from booking.models import Slot, VaccinationDrive, VaccineLot
from booking.selectors import SlotSearch, search_open_slots
from clinics.models import Service

pytestmark = pytest.mark.django_db


def test_the_demo_opens_a_flu_drive_on_stock_and_seeding_twice_adds_nothing(reference_data):
    call_command("seed_demo", password="demo-pass-2569", verbosity=0)
    lots, slots = VaccineLot.objects.count(), Slot.objects.count()

    call_command("seed_demo", password="demo-pass-2569", verbosity=0)

    assert (VaccineLot.objects.count(), Slot.objects.count()) == (lots, slots)
    drive = VaccinationDrive.objects.get()
    assert drive.status == VaccinationDrive.Status.SCHEDULED
    flu = Service.objects.get(code="vaccine-influenza")
    found = search_open_slots(
        SlotSearch(service=flu, date_from=drive.first_day, date_to=drive.first_day, centre_ids=[1]),
        page=1,
        page_size=100,
    )
    assert any(option.slot.drive_id == drive.pk for option in found.items)
