"""Read-only lists for city admins: the audit trail, phones stopped from booking and
deletion requests. Staff act on these through the pages (/staff/...), which check who may."""

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from booking.models import BookingBlock, DeletionRequest
from booking.vaccination.admin import ReadOnly
from clinics.models import AuditEvent
from clinics.permissions import is_city_admin


class CityAdminsRead(ReadOnly):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_city_admin(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return is_city_admin(request.user)


@admin.register(AuditEvent)
class AuditEventAdmin(CityAdminsRead):
    list_display = [
        "at",
        "actor_kind",
        "actor_name",
        "action",
        "target_type",
        "target_id",
        "centre",
    ]
    list_filter = ["actor_kind", "action", "centre"]
    search_fields = ["actor_name", "action", "via"]
    date_hierarchy = "at"
    list_select_related = ["centre"]


@admin.register(BookingBlock)
class BookingBlockAdmin(CityAdminsRead):
    list_display = ["account", "reason", "blocked_at", "blocked_by", "lifted_at", "lifted_by"]
    list_select_related = ["account", "blocked_by", "lifted_by"]


@admin.register(DeletionRequest)
class DeletionRequestAdmin(CityAdminsRead):
    list_display = ["patient_id", "status", "requested_at", "erase_on", "finished_at"]
    list_filter = ["status"]
