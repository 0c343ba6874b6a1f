from django.urls import path

from booking import views
from booking.vaccination.views import records
from booking.views import thaid

urlpatterns = [
    path("", views.find_page, name="find"),
    path("sign-in", views.sign_in_page, name="sign-in"),
    path("sign-in/thaid", thaid.thaid_start, name="thaid-start"),
    path("sign-in/thaid/callback", thaid.thaid_callback, name="thaid-callback"),
    path("sign-in/thaid/connect", thaid.thaid_connect, name="thaid-connect"),
    path("sign-out", views.sign_out, name="sign-out"),
    path("me/", views.my_appointments_page, name="my-appointments"),
    path("me/data.json", views.my_data_download, name="my-data"),
    path("me/delete", views.delete_my_data_page, name="delete-my-data"),
    path("me/delete/withdraw", views.withdraw_deletion_request, name="withdraw-deletion"),
    path("me/appointments/<int:appointment_id>", views.my_appointment_page, name="my-appointment"),
    path(
        "me/people/<int:patient_id>/vaccinations",
        records.vaccination_record_page,
        name="vaccination-record",
    ),
    path("verify/<str:token>", records.verify_record_page, name="verify-record"),
    path("a/<str:token>", views.appointment_link_page, name="appointment-link"),
    path("w/<str:token>", views.waitlist_offer_page, name="waitlist-offer"),
    path("book/slots/<int:slot_id>", views.book_slot_page, name="book-slot"),
]
