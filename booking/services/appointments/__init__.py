"""The booking engine: taking, moving and releasing places in slots, and the visit's progress.

Every entry point (the API, the pages, the admin, partners, tasks) calls these names from here;
each lives in one module of the package:

- `booking`: book a given slot (`book_slot`, `Booking`) and the drive's rules checked as it
  books (`check_eligibility`);
- `allocation`: "book the best for me" (`allocate_slot`), trying ranked candidates (`Tries`);
- `changes`: a patient's changes (`cancel_appointment`, `reschedule_appointment`,
  `confirm_attendance`);
- `visits`: the visit's progress as staff record it (`check_in`, `start_consultation`,
  `complete_appointment`, `mark_no_show`, and taking a check-in or a "did not come" back:
  `undo_check_in`, `undo_no_show`).

Capacity is taken with one conditional UPDATE (`booked < capacity`), so no slot is ever booked
past its capacity whatever runs at the same time; a CHECK constraint guards the same rule.
"""

from booking.services.appointments.allocation import Candidate, Tries, allocate_slot
from booking.services.appointments.booking import (
    Booking,
    book_slot,
    check_eligibility,
    has_booked_with_key,
)
from booking.services.appointments.changes import (
    cancel_appointment,
    confirm_attendance,
    reschedule_appointment,
)
from booking.services.appointments.visits import (
    check_in,
    complete_appointment,
    mark_no_show,
    start_consultation,
    undo_check_in,
    undo_no_show,
)

__all__ = [
    "Booking",
    "Candidate",
    "Tries",
    "allocate_slot",
    "book_slot",
    "cancel_appointment",
    "check_eligibility",
    "check_in",
    "complete_appointment",
    "confirm_attendance",
    "has_booked_with_key",
    "mark_no_show",
    "reschedule_appointment",
    "start_consultation",
    "undo_check_in",
    "undo_no_show",
]
