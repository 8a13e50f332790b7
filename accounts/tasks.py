from smtplib import SMTPException

from celery import shared_task

from accounts import services


@shared_task(
    autoretry_for=(SMTPException, ConnectionError, TimeoutError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def send_password_reset_email(user_id: int) -> None:
    # The message holds only the id; the token is made here, never put on the broker.
    services.password_reset_send(user_id)
