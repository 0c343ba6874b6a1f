"""The waitlist: people waiting for a place of any service when a search found none.

Models (`models`), joining, offering held places and claiming them (`services`), and the JSON
API (`api`). Offers are swept by booking.tasks; the offer text is one of booking's notices."""
