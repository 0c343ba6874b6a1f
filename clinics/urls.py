from django.urls import URLPattern, path

from clinics import views

urlpatterns: list[URLPattern] = [
    path("staff/sign-in", views.sign_in_page, name="staff-sign-in"),
    path("staff/sign-out", views.sign_out, name="staff-sign-out"),
    path("staff/", views.home_page, name="staff-home"),
]
