"""Reads of slots, patients and appointments that deserve a name, one module each:

- `slots`: the slot search (pages, API, partners), the best slots for "book the best for me",
  a centre's open times;
- `households`: what an account holds (its patients, appointments, vaccination courses) and
  the other times an appointment could move to;
- `queue`: a centre's day as one queue, appointments and walk-ins in the centre's order;
- `staff`: a centre's day and week, an appointment or slot a member of staff may act on, and
  the text messages about an appointment or a patient.

The rooms keep their own reads: booking.vaccination.selectors (drives),
booking.interop.selectors (a partner's appointments).
"""

from booking.selectors.households import (
    AnyUser,
    MoveChoices,
    alternatives_for,
    appointment_can_change,
    appointment_of,
    appointments_of,
    confirmation_text_of,
    move_choices,
    next_best_slots,
    patient_of,
    patients_of,
    vaccination_courses_of,
)
from booking.selectors.queue import (
    QueueEntry,
    QueueOrder,
    centre_queue_on,
    centre_walk_ins_on,
    in_queue_order,
    patients_with,
    queue_order_for,
    walk_in_for_staff,
)
from booking.selectors.slots import (
    MAX_SEARCH_DAYS,
    SlotOption,
    SlotOrder,
    SlotPage,
    SlotSearch,
    best_open_slots,
    build_search,
    centres_to_walk,
    day_bounds,
    open_slots_in_centre_order_sql,
    open_times_by_centre,
    search_open_slots,
)
from booking.selectors.staff import (
    appointment_for_staff,
    centre_appointments_on,
    centre_slots_between,
    centres_seeing,
    messages_about_appointment,
    messages_about_patient,
    slot_for_staff,
    stranded_appointments,
)

__all__ = [
    "MAX_SEARCH_DAYS",
    "AnyUser",
    "MoveChoices",
    "QueueEntry",
    "QueueOrder",
    "SlotOption",
    "SlotOrder",
    "SlotPage",
    "SlotSearch",
    "alternatives_for",
    "appointment_can_change",
    "appointment_for_staff",
    "appointment_of",
    "appointments_of",
    "best_open_slots",
    "build_search",
    "centre_appointments_on",
    "centre_queue_on",
    "centre_slots_between",
    "centre_walk_ins_on",
    "centres_seeing",
    "centres_to_walk",
    "confirmation_text_of",
    "day_bounds",
    "in_queue_order",
    "messages_about_appointment",
    "messages_about_patient",
    "move_choices",
    "next_best_slots",
    "open_slots_in_centre_order_sql",
    "open_times_by_centre",
    "patient_of",
    "patients_of",
    "patients_with",
    "queue_order_for",
    "search_open_slots",
    "slot_for_staff",
    "stranded_appointments",
    "vaccination_courses_of",
    "walk_in_for_staff",
]
