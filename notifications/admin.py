"""Text messages in the admin: read-only, because the outbox is a record of what was sent."""

from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from clinics.admin import AuditedReads, CentreScopedAdmin, CityAdminOnly
from notifications.messages import staff_view_of
from notifications.models import InboundMessage, Message, OptOut


class ReadOnly(admin.ModelAdmin[Any]):
    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(AuditedReads, ReadOnly, CentreScopedAdmin):
    """Staff see the messages about their centres' appointments; passcodes and replies
    about no appointment are for city administrators."""

    def _seen(self, objects: list[Any]) -> list[tuple[int | None, int]]:
        rows = Message.objects.filter(pk__in=[message.pk for message in objects]).values_list(
            "appointment__slot__centre_id", "patient_id", "appointment__patient_id"
        )
        return [
            (centre_id, patient_id or booked_for)
            for centre_id, patient_id, booked_for in rows
            if patient_id or booked_for
        ]

    centre_path = "appointment__slot__centre"
    list_display = ["created_at", "kind", "recipient", "status", "segments", "due_at", "attempts"]
    list_filter = ["status", "kind", "language"]
    search_fields = ["recipient", "provider_id", "=appointment__id"]
    date_hierarchy = "created_at"
    list_select_related = ["appointment"]
    raw_id_fields = ["appointment", "patient"]
    exclude = ["body"]
    readonly_fields = ["text"]

    @admin.display(description=_("text"))
    def text(self, message: Message) -> str:
        return staff_view_of(message.body)


@admin.register(OptOut)
class OptOutAdmin(ReadOnly, CityAdminOnly):
    list_display = ["phone", "source", "created_at"]
    search_fields = ["phone"]


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnly, CityAdminOnly):
    list_display = ["received_at", "sender", "body", "outcome"]
    list_filter = ["outcome"]
    search_fields = ["sender"]
    raw_id_fields = ["appointment", "reply"]
