import logging

from celery import shared_task

from booking.interop.fhir.publishing import publish_scheduling_links as publish_links
from booking.interop.open_data.services import count_recent_days
from booking.services.deletion import erase_due
from booking.services.slots import extend_slot_horizon as extend_horizon
from booking.waitlist.services import offer_free_places

logger = logging.getLogger(__name__)


@shared_task(autoretry_for=(Exception,), retry_backoff=60, max_retries=5)
def extend_slot_horizon() -> dict[str, int]:
    """Nightly: roll the booking horizon forward a day and follow schedule changes."""
    result = extend_horizon()
    logger.info(
        "Slot horizon synced: %d created, %d resized, %d reopened, %d removed, %d closed",
        result.created,
        result.resized,
        result.reopened,
        result.removed,
        result.closed,
    )
    if result.affected_appointment_ids:
        logger.warning(
            "%d booked appointments are now in closed slots: %s",
            len(result.affected_appointment_ids),
            result.affected_appointment_ids[:50],
        )
    return {"created": result.created, "changed": result.changed}


@shared_task
def offer_waitlist_places() -> dict[str, int]:
    """Every minute: pass on lapsed offers and offer free places to the waitlist. Safe to run
    twice at once: each place and each person is taken under a lock."""
    run = offer_free_places()
    return {"expired": run.expired, "offered": run.offered}


@shared_task(autoretry_for=(Exception,), retry_backoff=60, max_retries=5)
def count_daily_figures() -> dict[str, int]:
    """Nightly: count yesterday's open-data figures, count the week before again for outcomes
    recorded late, and catch up days missed. Safe to run twice: a day counted again replaces
    its rows."""
    counted = count_recent_days()
    logger.info("Daily figures: %d days counted, %d rows", counted.days, counted.rows)
    return {"days": counted.days, "rows": counted.rows}


@shared_task
def publish_scheduling_links() -> dict[str, int]:
    """Every minute: rewrite the SMART Scheduling Links files whose content changed. Safe to run
    twice at once: the writes take turns under a lock."""
    run = publish_links()
    return {"written": len(run.written), "unchanged": run.unchanged, "slots": run.slots}


@shared_task(autoretry_for=(Exception,), retry_backoff=60, max_retries=5)
def erase_due_personal_data() -> dict[str, int]:
    """Nightly: erase the people whose deletion request has come due. Safe to run twice."""
    erased = erase_due()
    logger.info("Personal data erased for %d people", erased)
    return {"erased": erased}
