"""Open data at /open-data/: stable addresses that others can link to and download from."""

from django.urls import path

from booking.interop.open_data import views

app_name = "open_data"

urlpatterns = [
    path("", views.index, name="index"),
    path("daily-figures.csv", views.daily_figures_csv, name="daily-figures-csv"),
    path("daily-figures.json", views.daily_figures_json, name="daily-figures-json"),
    path("daily-figures/dictionary.json", views.dictionary_json, name="dictionary-json"),
    path("daily-figures/dictionary.csv", views.dictionary_csv, name="dictionary-csv"),
]
