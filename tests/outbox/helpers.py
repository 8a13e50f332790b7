"""Seeing what owed emails would reach the broker, without one."""

from pit_portal.outbox.models import OutboxEmail
from pit_portal.outbox.tasks import send_email


def record_sends(monkeypatch) -> list[int]:
    """Patch the outbox's send task: the returned list collects the id each message would carry."""
    sent: list[int] = []

    def record(args=None, kwargs=None, **options):
        assert kwargs in (None, {}), "a send message carries the outbox id only"
        sent.extend(args)

    monkeypatch.setattr(send_email, "apply_async", record)
    return sent


def owed(sent: list[int]) -> list[tuple[str, int]]:
    """The (kind, object id) of the emails the messages name, in the order they were sent."""
    rows = OutboxEmail.objects.in_bulk(sent)
    return [(rows[outbox_id].kind, rows[outbox_id].object_id) for outbox_id in sent]
