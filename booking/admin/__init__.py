"""Admin for everything the booking app keeps; see the modules for each part."""

from booking.admin import appointments, partners, safeguards, vaccination

__all__ = ["appointments", "partners", "safeguards", "vaccination"]
