from django.urls import path

from booking.interop.calendars import views

urlpatterns = [
    path("a/<str:token>/calendar.ics", views.appointment_file, name="appointment-calendar"),
    path("c/<str:token>.ics", views.appointment_calendar_file, name="appointment-calendar-file"),
    path("calendars/<str:token>.ics", views.private_feed, name="calendar-feed"),
    path(
        "centres/<int:number>/closures.ics",
        views.centre_closures_feed,
        name="centre-closures-calendar",
    ),
]
