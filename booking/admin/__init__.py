"""Admin for everything the booking app keeps; see the modules for each part (the rooms keep
their own: booking.vaccination.admin, booking.interop.admin)."""

from booking.admin import appointments, safeguards, schedules
from booking.interop import admin as interop_admin
from booking.vaccination import admin as vaccination_admin

__all__ = [
    "appointments",
    "interop_admin",
    "safeguards",
    "schedules",
    "vaccination_admin",
]
