"""Booking models: people, slots and appointments; vaccination drives, stock, dose series and
the waitlist."""

from booking.models.appointments import Appointment, Patient, SignInCode, Slot
from booking.models.vaccination import (
    DriveSession,
    RiskGroup,
    VaccinationDrive,
    VaccinationSeries,
    VaccineLot,
    WaitlistEntry,
    WaitlistOffer,
)

__all__ = [
    "Appointment",
    "DriveSession",
    "Patient",
    "RiskGroup",
    "SignInCode",
    "Slot",
    "VaccinationDrive",
    "VaccinationSeries",
    "VaccineLot",
    "WaitlistEntry",
    "WaitlistOffer",
]
