"""The Celery app: configured from Django settings (``CELERY_*``), tasks found in each app."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("bma")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # Every night, extend the rolling horizon of bookable slots by one day and follow any
    # schedule, closure or holiday changes; safe to run any number of times.
    "extend-slot-horizon": {
        "task": "booking.tasks.extend_slot_horizon",
        "schedule": crontab(hour=1, minute=5),
    },
}
