from typing import Annotated

from ninja import Field, Schema

from clinics.schemas import BangkokDateTime, choices_schema
from notifications.messages import staff_view_of
from notifications.models import Message


class MessageOut(Schema):
    id: int
    kind: Annotated[Message.Kind, choices_schema("MessageKind", list(Message.Kind.values))]
    recipient: str
    language: str
    body: str
    segments: int = Field(description="SMS segments the text takes (70 UCS-2 characters each).")
    status: Annotated[Message.Status, choices_schema("MessageStatus", list(Message.Status.values))]
    due_at: BangkokDateTime
    sent_at: BangkokDateTime | None
    delivered_at: BangkokDateTime | None
    attempts: int
    error_code: str
    last_error: str
    appointment_id: int | None

    @staticmethod
    def resolve_body(message: Message) -> str:
        return staff_view_of(message.body)
