"""HTML pages: the find page, a patient's own pages, the pages links in text messages open,
and the page that books one slot. Staff pages are in booking.views.staff."""

from booking.page_words import reader_language
from booking.views.account import (
    my_appointment_page,
    my_appointments_page,
    sign_in_page,
    sign_out,
)
from booking.views.book import book_slot_page
from booking.views.deletion import delete_my_data_page, withdraw_deletion_request
from booking.views.find import find_page
from booking.views.links import appointment_link_page, waitlist_offer_page
from booking.views.my_data import my_data_download

__all__ = [
    "appointment_link_page",
    "book_slot_page",
    "delete_my_data_page",
    "find_page",
    "my_appointment_page",
    "my_appointments_page",
    "my_data_download",
    "reader_language",
    "sign_in_page",
    "sign_out",
    "waitlist_offer_page",
    "withdraw_deletion_request",
]
