"""The video rooms the staff queue links to, as booking sees them.

Video sits above booking (it imports appointments, never the other way), so booking does not
import video's rooms: video registers how they are opened (register_room_opener, in
VideoConfig.ready) and the day's queue asks here. Without video installed, no room is shown.
"""

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Protocol

from booking.models import Appointment


class QueueRoom(Protocol):
    """What the queue shows of a consultation room: its address and who is in it since when."""

    @property
    def code(self) -> str: ...

    @property
    def patient_waiting_since(self) -> datetime | None: ...

    @property
    def admitted_at(self) -> datetime | None: ...

    @property
    def ended_at(self) -> datetime | None: ...


RoomOpener = Callable[[list[Appointment]], Mapping[int, QueueRoom]]

_openers: list[RoomOpener] = []


def register_room_opener(open_rooms: RoomOpener) -> None:
    """Have `open_rooms` give the rooms of video appointments by appointment id, making any
    that do not exist yet (the last one registered is asked)."""
    _openers.append(open_rooms)


def open_rooms_for(appointments: list[Appointment]) -> Mapping[int, QueueRoom]:
    """The rooms of these video appointments by appointment id, made for any that have none
    yet; none while no app has registered an opener."""
    if not _openers:
        return {}
    return _openers[-1](appointments)
