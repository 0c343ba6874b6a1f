"""Open data: daily figures per centre and service, counted each night (services.py, run by
booking.tasks.count_daily_figures and the count_daily_figures command), published as CSV and
JSON with a data dictionary (views.py), small counts withheld (suppression.py)."""
