"""Staff pages for drives and vaccine stock (URLs in booking.views.staff.planning_urls)."""
