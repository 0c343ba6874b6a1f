from django.urls import URLPattern, path

from booking.interop.fhir import views

app_name = "fhir"

urlpatterns: list[URLPattern] = [
    path("metadata", views.metadata, name="metadata"),
    path("$bulk-publish", views.bulk_manifest, name="bulk-publish"),
    path("bulk/<str:name>", views.bulk_file, name="bulk-file"),
    path("<str:kind>", views.search, name="search"),
    path("<str:kind>/<str:ident>", views.read, name="read"),
    path("<path:rest>", views.unknown),
]
