"""The Celery app: configured from Django settings (``CELERY_*``), tasks found in each app."""

import os
from pathlib import Path

from celery import Celery
from celery.schedules import crontab
from celery.signals import beat_init
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("bma")
# The current app in every thread, not only this one: the outbox wakes a worker through
# celery.current_app (notifications imports nothing from config), from any request's thread.
app.set_default()
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

if app.conf.broker_url == "filesystem://":
    # The embedded broker is a pair of folders that web, worker and beat share.
    for folder in app.conf.broker_transport_options.values():
        Path(folder).mkdir(parents=True, exist_ok=True)

app.conf.beat_schedule = {
    # Every night, extend the rolling horizon of bookable slots by one day and follow any
    # schedule, closure or holiday changes; safe to run any number of times.
    "extend-slot-horizon": {
        "task": "booking.tasks.extend_slot_horizon",
        "schedule": crontab(hour=1, minute=5),
    },
    # The outbox sweep: sends what is due (reminders, retries, anything whose wake-up was
    # lost while the broker was down). Reminders wait in the database, never in the broker.
    "send-due-messages": {
        "task": "notifications.tasks.send_due_messages",
        "schedule": float(settings.SMS_SWEEP_SECONDS),
        "options": {"expires": float(settings.SMS_SWEEP_SECONDS)},
    },
    # Offer freed and newly opened places to the waitlist, and pass on lapsed offers.
    "offer-waitlist-places": {
        "task": "booking.tasks.offer_waitlist_places",
        "schedule": float(settings.WAITLIST_SWEEP_SECONDS),
        "options": {"expires": float(settings.WAITLIST_SWEEP_SECONDS)},
    },
    # Just after midnight (Bangkok, CELERY_TIMEZONE): count the day that has just ended for
    # open data, and the days before it again; safe to run any number of times.
    "count-daily-figures": {
        "task": "booking.tasks.count_daily_figures",
        "schedule": crontab(hour=0, minute=20),
    },
    # Every night: erase the personal data of people whose deletion request has come due.
    "erase-due-personal-data": {
        "task": "booking.tasks.erase_due_personal_data",
        "schedule": crontab(hour=2, minute=10),
    },
    # Rewrite the SMART Scheduling Links files (/fhir/r4/$bulk-publish) that changed.
    "publish-scheduling-links": {
        "task": "booking.tasks.publish_scheduling_links",
        "schedule": float(settings.SCHEDULING_LINKS_REFRESH_SECONDS),
        "options": {"expires": float(settings.SCHEDULING_LINKS_REFRESH_SECONDS)},
    },
}


@beat_init.connect
def publish_scheduling_links_at_start(**kwargs: object) -> None:
    """Aggregators (and the demo) find fresh files as soon as the system starts, not a
    refresh interval later."""
    app.send_task("booking.tasks.publish_scheduling_links")
