"""The video call pages, mounted at the site root."""

from django.urls import URLPattern, path

from video import views

urlpatterns: list[URLPattern] = [
    path("v/<str:token>", views.patient_room_page, name="video-join"),
    path("video/rooms/<str:code>", views.clinician_room_page, name="video-room"),
    path("video/centres/<int:number>/", views.centre_rooms_page, name="video-centre-rooms"),
]
