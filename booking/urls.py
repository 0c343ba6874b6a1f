from django.urls import path

from booking import views

urlpatterns = [
    path("a/<str:token>", views.appointment_link_page, name="appointment-link"),
    path("w/<str:token>", views.waitlist_offer_page, name="waitlist-offer"),
    path("book/slots/<int:slot_id>", views.book_slot_page, name="book-slot"),
]
