"""HTML pages: the pages links in text messages open, and the page that books one slot."""

from booking.views.book import book_slot_page
from booking.views.links import appointment_link_page, reader_language, waitlist_offer_page

__all__ = ["appointment_link_page", "book_slot_page", "reader_language", "waitlist_offer_page"]
