"""Admin for partners and their API keys. Only city administrators issue or revoke keys; a
key is shown once, when it is issued, and only its hash is kept."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from booking.interop.partners import issue_partner_key, revoke_partner_keys
from booking.models import Partner, PartnerKey, PartnerKeyUse
from booking.vaccination.admin import ReadOnly
from clinics.admin import CityAdminOnly
from clinics.permissions import is_city_admin, signed_in_user


class CityAdminChanges(CityAdminOnly):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_city_admin(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return is_city_admin(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # revoke instead: the audit trail keeps every key it names


@admin.register(Partner)
class PartnerAdmin(CityAdminChanges):
    list_display = ["name", "contact_email", "is_active", "created_at"]
    search_fields = ["name"]
    list_filter = ["is_active"]


class PartnerKeyForm(forms.ModelForm[PartnerKey]):
    scopes = forms.MultipleChoiceField(
        label=_("scopes"), choices=PartnerKey.Scope.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = PartnerKey
        fields = ["partner", "label", "scopes", "requests_per_minute", "expires_at"]


@admin.register(PartnerKey)
class PartnerKeyAdmin(CityAdminChanges):
    form = PartnerKeyForm
    list_display = [
        "prefix",
        "partner",
        "label",
        "scope_list",
        "requests_per_minute",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = ["partner", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["prefix", "label", "partner__name"]
    readonly_fields = ["prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    @admin.display(description=_("scopes"))
    def scope_list(self, key: PartnerKey) -> str:
        return ", ".join(key.scopes)

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        if obj is not None:  # a key belongs to its partner for good
            return [*self.readonly_fields, "partner"]
        return self.readonly_fields

    def save_model(self, request: HttpRequest, obj: PartnerKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        issued = issue_partner_key(
            partner=obj.partner,
            scopes=list(form.cleaned_data["scopes"]),
            label=obj.label,
            requests_per_minute=obj.requests_per_minute,
            expires_at=obj.expires_at,
            issued_by=signed_in_user(request),
        )
        obj.pk, obj.prefix = issued.key.pk, issued.key.prefix
        messages.warning(
            request,
            _("Copy this key now and send it to the partner safely; it is not shown again: %(key)s")
            % {"key": issued.secret},
        )

    @admin.action(description=_("Revoke the selected keys"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[PartnerKey]) -> None:
        count = revoke_partner_keys(key_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, _("%(count)d keys revoked.") % {"count": count})


@admin.register(PartnerKeyUse)
class PartnerKeyUseAdmin(CityAdminOnly, ReadOnly):
    list_display = ["at", "key", "method", "path", "status_code", "address"]
    list_filter = ["key__partner", "status_code", "method"]
    search_fields = ["path", "key__prefix"]
    date_hierarchy = "at"
    list_select_related = ["key__partner"]
