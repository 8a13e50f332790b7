"""Background work for the audit trail."""

from celery import shared_task

from audit import heads


@shared_task(acks_late=True, soft_time_limit=30, time_limit=60)
def record_chain_head() -> None:
    """Periodic (celery beat): write the chain's head to the log and the head file, outside the database."""
    heads.chain_head_record()
