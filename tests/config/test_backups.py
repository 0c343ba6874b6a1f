"""The database backup and its restore, on whichever database the suite runs on (SQLite by
default, PostgreSQL in CI's second run): a booking changed or lost after the backup is back
as it was once the backup is restored over the live database."""

import stat
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from booking.models import Appointment, Patient
from booking.services.appointments import cancel_appointment
from tests.factories import SlotFactory, booked

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_restore_brings_back_the_database_as_it_was_at_the_backup(
    reference_data, patient, tmp_path: Path
):
    kept = booked(patient, SlotFactory())
    backup = tmp_path / "before.backup"
    call_command("backup_database", str(backup), stdout=StringIO())

    cancel_appointment(appointment=kept)
    Patient.objects.filter(pk=patient.pk).update(first_name="Changed")
    newer = booked(patient, SlotFactory())
    call_command("restore_database", str(backup), stdout=StringIO())

    restored = Appointment.objects.get(pk=kept.pk)
    assert restored.status == Appointment.Status.BOOKED
    assert Patient.objects.get(pk=patient.pk).first_name == patient.first_name
    assert not Appointment.objects.filter(pk=newer.pk).exists()
    assert restored.slot.booked == 1


def test_restoring_a_missing_file_says_so_and_changes_nothing(reference_data, patient):
    kept = booked(patient, SlotFactory())

    with pytest.raises(CommandError, match="There is no backup at"):
        call_command("restore_database", "/nonexistent/backup")

    assert Appointment.objects.filter(pk=kept.pk).exists()


def test_a_backup_is_readable_by_its_owner_alone_in_a_folder_only_they_may_open(
    reference_data, patient, tmp_path: Path
):
    backup = tmp_path / "new-folder" / "private.backup"

    call_command("backup_database", str(backup), stdout=StringIO())

    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert stat.S_IMODE(backup.parent.stat().st_mode) == 0o700


def test_a_backup_over_an_old_readable_file_is_made_private(reference_data, tmp_path: Path):
    backup = tmp_path / "old.backup"
    backup.write_bytes(b"")
    backup.chmod(0o644)

    call_command("backup_database", str(backup), stdout=StringIO())

    assert stat.S_IMODE(backup.stat().st_mode) == 0o600


def test_the_default_backup_folder_is_narrowed_to_its_owner(
    reference_data, tmp_path: Path, settings
):
    settings.VAR_DIR = tmp_path
    (tmp_path / "backups").mkdir(mode=0o755)
    (tmp_path / "backups").chmod(0o755)
    out = StringIO()

    call_command("backup_database", stdout=out)

    written = Path(out.getvalue().split(" (")[0])
    assert written.parent == tmp_path / "backups"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(written.parent.stat().st_mode) == 0o700
