"""What the generator needs before the first patient: the seeded staff (created once, found again when appending),
their working hours, and the ids of the reference rows the data migrations made."""

from django.contrib.auth.models import Group

from accounts.models import Role, User
from assessments.models import Nerve
from patients.models import Condition, ConsentText
from pit_portal.scale import vocabulary as words
from pit_portal.scale.diary import WORKING_BLOCKS, WORKING_WEEKDAYS
from pit_portal.scale.generate import INITIAL, REVIEW, SESSION, UNUSABLE_PASSWORD, Reference
from pit_portal.scale.loader import SeedError
from scheduling.models import AppointmentType, WorkingHours

CLINICIAN_USERNAME = "scale-clinician-{:02d}"
FRONT_DESK_USERNAME = "scale-desk-{:02d}"
FRONT_DESK_COUNT = 2


def _staff_member(username: str, index: int, role: Role) -> User:
    first, last = words.STAFF_NAMES[index % len(words.STAFF_NAMES)]
    user, _ = User.objects.get_or_create(
        username=username,
        defaults={"first_name": first, "last_name": last, "email": f"{username}@example.org",
                  "password": UNUSABLE_PASSWORD},
    )  # fmt: skip
    user.groups.add(Group.objects.get(name=role.value))
    return user


def ensure_staff(clinicians: int) -> tuple[list[User], list[User]]:
    """The seeded clinicians (with a working week) and front-desk staff, created if missing."""
    clinician_users = [
        _staff_member(CLINICIAN_USERNAME.format(number), number - 1, Role.CLINICIAN)
        for number in range(1, clinicians + 1)
    ]
    for clinician in clinician_users:
        if not WorkingHours.objects.filter(clinician=clinician).exists():
            WorkingHours.objects.bulk_create(
                WorkingHours(clinician=clinician, weekday=weekday, starts=starts, ends=ends)
                for weekday in WORKING_WEEKDAYS
                for starts, ends in WORKING_BLOCKS
            )
    desk = [
        _staff_member(FRONT_DESK_USERNAME.format(number), clinicians + number, Role.FRONT_DESK)
        for number in range(1, FRONT_DESK_COUNT + 1)
    ]
    return clinician_users, desk


def load_reference(clinicians: list[User], front_desk: list[User]) -> Reference:
    """Ids of the data migrations' rows; a clear error if one is missing (an unmigrated or emptied database)."""
    consent_text = ConsentText.objects.current()
    if consent_text is None:
        raise SeedError("No published consent text: run `manage.py migrate` (its data migration publishes one).")
    types = {
        t.code: (t.pk, t.duration_minutes) for t in AppointmentType.objects.filter(code__in=[INITIAL, SESSION, REVIEW])
    }
    missing = {INITIAL, SESSION, REVIEW} - set(types)
    if missing:
        raise SeedError(f"Appointment types missing: {', '.join(sorted(missing))}. Run `manage.py migrate`.")
    nerves: dict[str, list[int]] = {}
    for nerve in Nerve.objects.filter(active=True).order_by("pk"):
        nerves.setdefault(nerve.region, []).append(nerve.pk)
    if {region for region, _ in words.CONDITION_AREAS.values()} - set(nerves):
        raise SeedError("The nerve reference list is incomplete. Run `manage.py migrate`.")
    conditions = tuple(Condition.objects.filter(active=True).order_by("pk").values_list("pk", "code"))
    if not conditions:
        raise SeedError("No conditions on file. Run `manage.py migrate`.")
    return Reference(
        conditions=conditions,
        nerves_by_region={region: tuple(ids) for region, ids in nerves.items()},
        appointment_types=types,
        consent_text_id=consent_text.pk,
        patient_group_id=Group.objects.get(name=Role.PATIENT.value).pk,
        clinicians=tuple(user.pk for user in clinicians),
        front_desk=tuple(user.pk for user in front_desk),
    )
