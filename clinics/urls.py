from django.urls import URLPattern, path

from clinics import audit_pages, views

urlpatterns: list[URLPattern] = [
    path("staff/sign-in", views.sign_in_page, name="staff-sign-in"),
    path("staff/sign-in/code", views.sign_in_code_page, name="staff-sign-in-code"),
    path(
        "staff/sign-in/authenticator",
        views.sign_in_authenticator_page,
        name="staff-sign-in-authenticator",
    ),
    path("staff/sign-out", views.sign_out, name="staff-sign-out"),
    path("staff/", views.home_page, name="staff-home"),
    path("staff/audit", audit_pages.city_audit_page, name="staff-city-audit"),
    path(
        "staff/centres/<int:number>/about",
        views.centre_about_page,
        name="staff-centre-about",
    ),
    path(
        "staff/centres/<int:number>/audit",
        audit_pages.centre_audit_page,
        name="staff-centre-audit",
    ),
]
