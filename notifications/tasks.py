import logging

from celery import shared_task

from notifications.services.dispatch import send_due_messages as send_due

logger = logging.getLogger(__name__)


@shared_task
def send_due_messages(batch_size: int = 100, time_budget: float = 50.0) -> dict[str, int]:
    """Send every text message that is due. Beat runs it every few seconds and each commit
    of a new message wakes it; any number may run at once without sending one twice."""
    result = send_due(batch_size=batch_size, time_budget=time_budget)
    if result.outcomes:
        logger.info(
            "Text messages: %d sent, %d failed, %d to retry, %d deferred, %d dropped",
            result.sent,
            result.failed,
            result.retrying,
            result.deferred,
            result.dropped,
        )
    return {
        "sent": result.sent,
        "failed": result.failed,
        "retrying": result.retrying,
        "deferred": result.deferred,
        "dropped": result.dropped,
    }
