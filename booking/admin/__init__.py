"""Admin for everything the booking app keeps; see the modules for each part."""

from booking.admin import appointments, vaccination

__all__ = ["appointments", "vaccination"]
