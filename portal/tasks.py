"""Portal emails, sent by the worker. Messages carry ids only: tokens, names and addresses never sit on the broker."""

from celery import shared_task

from portal import services
from scheduling.tasks import EMAIL_TASK_OPTIONS


@shared_task(**EMAIL_TASK_OPTIONS)
def send_invite(invite_id: int) -> bool:
    # The token is made here, in the worker; a retry makes a new one, and only the newest link works.
    return services.invite_send(invite_id)


@shared_task(**EMAIL_TASK_OPTIONS)
def tell_front_desk_of_cancellation(appointment_id: int) -> bool:
    return services.front_desk_cancellation_send(appointment_id)
