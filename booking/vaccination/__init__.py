"""Vaccination: what a drive may open and who may book it.

Drives and their sessions (`drives`), vaccine lots and stock (`stock`), dose series and
courses (`series`), who is eligible (`eligibility`), the drive's waiting room (`waiting_room`),
with their models, JSON API (`api`, `schemas`), admin and staff pages (`views`). Booking a
place itself is the core engine's (booking.services.appointments); this room adds the rules a
vaccine brings. Same Django app label as the rest of booking, so no migration moved."""
