"""Between-visit questions, sent by the worker; messages carry nothing but what beat needs to run."""

from celery import shared_task

from outcomes import services


@shared_task(soft_time_limit=60, time_limit=90)
def send_due_measure_requests() -> dict[str, int]:
    """Run by beat every quarter hour: make the pre-session requests of appointments now coming up, then owe the
    first email of every due request and the one reminder of every request left unanswered. Running twice, or
    beside a slow earlier run, makes and owes each once."""
    made = services.before_session_requests_make()
    first, reminders = services.due_requests_owe()
    return {"made": made, "emails": first, "reminders": reminders}
