"""Vaccination drives: planning, stock-checked release in bulk, and calling one off.

A drive's slots are written in one bulk insert when it is released, each carrying the
drive's release time in `Slot.opens_at`; search and booking ignore a slot until then. So a
drive scheduled for 10:00 opens at 10:00 exactly, with no job that has to run on time.

The pages, the API, the admin and the demo call these names from here; each lives in one
module of the package:

- `fields`: what a drive is made of (`DriveFields`), built from the API's or the staff page's
  input (`drive_fields`), and the rules it must meet (`validate_drive_fields`,
  `MAX_DRIVE_DAYS`, `MAX_DAYS_AHEAD`);
- `planning`: what releasing it would open, per centre and day next to the stock
  (`plan_drive`, `DrivePlan`, `CentrePlan`, `PlannedDay`), and the slots written then;
- `lifecycle`: a drive's changes (`create_drive`, `update_drive`, `release_drive`,
  `cancel_drive`, with `DriveReleased` and `DriveCancelled`);
- `slot_sync`: its slots closed and reopened as a centre's closures change
  (`sync_drive_slots`).
"""

from booking.vaccination.drives.fields import (
    MAX_DAYS_AHEAD,
    MAX_DRIVE_DAYS,
    DriveFields,
    drive_fields,
    validate_drive_fields,
)
from booking.vaccination.drives.lifecycle import (
    DriveCancelled,
    DriveReleased,
    cancel_drive,
    create_drive,
    release_drive,
    update_drive,
)
from booking.vaccination.drives.planning import CentrePlan, DrivePlan, PlannedDay, plan_drive
from booking.vaccination.drives.slot_sync import sync_drive_slots

__all__ = [
    "MAX_DAYS_AHEAD",
    "MAX_DRIVE_DAYS",
    "CentrePlan",
    "DriveCancelled",
    "DriveFields",
    "DrivePlan",
    "DriveReleased",
    "PlannedDay",
    "cancel_drive",
    "create_drive",
    "drive_fields",
    "plan_drive",
    "release_drive",
    "sync_drive_slots",
    "update_drive",
    "validate_drive_fields",
]
