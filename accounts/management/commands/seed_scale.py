"""`manage.py seed_scale --patients N`: a large synthetic clinic for performance work (see pit_portal.scale)."""

import argparse
import random
import time
from datetime import datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from patients.models import Patient
from patients.services import CLINIC_NUMBER_PREFIX, CLINIC_NUMBER_SEQUENCE
from pit_portal.scale.diary import Clock, Diary
from pit_portal.scale.generate import SPECS, Clinic, moments
from pit_portal.scale.loader import Loader, SeedError
from pit_portal.scale.setup import ensure_staff, load_reference
from scheduling.models import Appointment, AppointmentStatus, diary_changed_on_every_day
from treatments.models import InjectionSession

MAX_PATIENTS = 1_000_000
MAX_CLINICIANS = 100
PROGRESS_LINES = 20


def _bounded_int(low: int, high: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"“{text}” is not a whole number.") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"give a number from {low:,} to {high:,} (got {value:,}).")
        return value

    return parse


class Command(BaseCommand):
    help = (
        "Seed a large, realistic, synthetic data set for performance work: patients with intake and consent, "
        "about 2 courses of 6 signed sessions of 4 sites each per patient, assessments, two years (or more, for "
        "large sizes) of appointments for the clinicians, document rows, and some patients with portal access. "
        "Rows are loaded with COPY in one transaction. Refuses a database that already has patients unless "
        "--append is given. History triggers (pghistory) and foreign-key triggers are skipped while seeding "
        "(session_replication_role = replica, which needs a superuser); without that right, or with "
        "--with-history, they stay on and every row also gets its history row, which is slower. "
        "Deterministic for a given --seed and run date. Document rows are marked ready but no PDF files are "
        "written, so downloading a seeded document is refused as a file that does not match its checksum."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--patients", required=True, type=_bounded_int(1, MAX_PATIENTS), help="how many patients")
        parser.add_argument("--clinicians", type=_bounded_int(1, MAX_CLINICIANS), default=10)
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
        parser.add_argument("--append", action="store_true", help="add patients to a database that has some")
        parser.add_argument("--with-history", action="store_true", help="keep history triggers on (slower)")
        parser.add_argument("--batch", type=_bounded_int(1, 100_000), default=1_000, help="patients per COPY round")

    def handle(self, *args, **options) -> None:
        started = time.perf_counter()
        try:
            with transaction.atomic():
                loader, patients_before = self._seed(options)
        except SeedError as error:
            raise CommandError(str(error)) from error
        analyze_started = time.perf_counter()
        self._analyze(loader)
        self._report(loader, time.perf_counter() - analyze_started, time.perf_counter() - started)
        self.stdout.write(f"Patients now on file: {patients_before + options['patients']:,}.")

    # --- Seeding ----------------------------------------------------------------------------------------------

    def _seed(self, options: dict) -> tuple[Loader, int]:
        self.replication_role: str | None = None
        patients_before = Patient.objects.count()
        if patients_before and not options["append"]:
            raise SeedError(
                f"This database already has {patients_before:,} patients. Seed an empty database, "
                "or pass --append to add more."
            )
        # Staff first, with triggers on: adding a role writes an audit event, which its trigger chains.
        clinicians, front_desk = ensure_staff(options["clinicians"])
        reference = load_reference(clinicians, front_desk)
        sign_later = options["with_history"] or not self._triggers_off()
        loader = Loader(SPECS)
        loader.lock_and_reserve()
        now = timezone.now().replace(microsecond=0)
        span = moments(patients_before + options["patients"], len(clinicians), now, timezone.localdate(now))
        clock = Clock(settings.TIME_ZONE)
        seed = options["seed"] + patients_before  # appending with the same seed still gives new people
        diary = Diary(len(clinicians), random.Random(seed))
        if patients_before:
            self._mark_booked(diary, clock, reference.clinicians)
        clinic = Clinic(loader, reference, diary, clock, span, seed, sign_later=sign_later)
        self.stdout.write(
            f"Seeding {options['patients']:,} patients, {len(clinicians)} clinicians, appointments from "
            f"{span.first_day:%d %b %Y}; history triggers {'on' if sign_later else 'off'}."
        )
        numbers = self._clinic_numbers(options["patients"])
        generating, started = 0.0, time.perf_counter()
        report_every = max(options["batch"], len(numbers) // PROGRESS_LINES)
        for first in range(0, len(numbers), options["batch"]):
            batch_started = time.perf_counter()
            for number in numbers[first : first + options["batch"]]:
                clinic.patient(number)
            generating += time.perf_counter() - batch_started
            loader.flush()
            if clinic.signatures:
                self._apply_signatures(clinic.signatures)
            done = min(first + options["batch"], len(numbers))
            if done % report_every < options["batch"] or done == len(numbers):
                self.stdout.write(f"  {done:>9,} patients  {time.perf_counter() - started:7.1f} s")
        self.generating_seconds = generating
        self._restore_triggers()
        # With the triggers off, the diary's versions missed every appointment loaded: moving the version of every
        # day gives every calendar a new cache key (scheduling.views.calendar_cache).
        diary_changed_on_every_day()
        # And the name search's vocabulary missed the names loaded (patients.KnownName).
        with connection.cursor() as cursor:
            cursor.execute("SELECT known_names_add_all()")
        return loader, patients_before

    def _triggers_off(self) -> bool:
        """Skip history and foreign-key triggers for this transaction; False if the database refuses."""
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT current_setting('session_replication_role')")
                previous = cursor.fetchone()[0]
                cursor.execute("SET LOCAL session_replication_role = replica")
        except DatabaseError:
            self.stderr.write(
                "Could not set session_replication_role (it needs a PostgreSQL superuser): history triggers stay "
                "on, so every row also writes its history row and seeding takes longer."
            )
            return False
        self.replication_role = previous
        return True

    def _restore_triggers(self) -> None:
        # SET LOCAL lasts to the end of the transaction, which may be a caller's (a test's): end it here.
        if self.replication_role is not None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('session_replication_role', %s, true)", [self.replication_role])

    def _clinic_numbers(self, count: int) -> list[str]:
        """Take `count` numbers from the clinic-number sequence at once, refusing any already typed in by hand."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(%s)", [CLINIC_NUMBER_SEQUENCE])
            first = cursor.fetchone()[0]
            cursor.execute("SELECT setval(%s, %s)", [CLINIC_NUMBER_SEQUENCE, first + count - 1])
            numbers = [f"{CLINIC_NUMBER_PREFIX}{value:06d}" for value in range(first, first + count)]
            table = connection.ops.quote_name(Patient._meta.db_table)
            cursor.execute(f"SELECT count(*) FROM {table} WHERE clinic_number = ANY(%s)", [numbers])  # noqa: S608
            if cursor.fetchone()[0]:
                raise SeedError("Clinic numbers the sequence gives next were already typed in by hand; cannot seed.")
        return numbers

    def _mark_booked(self, diary: Diary, clock: Clock, clinician_ids: tuple[int, ...]) -> None:
        """When appending, keep clear of the appointments already in the seeded clinicians' diaries."""
        index = {pk: position for position, pk in enumerate(clinician_ids)}
        live = Appointment.objects.filter(clinician__in=clinician_ids).exclude(status=AppointmentStatus.CANCELLED)
        for clinician_id, starts_at, ends_at in live.values_list("clinician_id", "starts_at", "ends_at").iterator():
            local_start, local_end = starts_at.astimezone(clock.zone), ends_at.astimezone(clock.zone)
            diary.mark_busy(index[clinician_id], local_start.date(), _minute(local_start), _minute(local_end))

    def _apply_signatures(self, signatures: list) -> None:
        """Sign the sessions whose sites are now in, as session_sign would: one UPDATE from a temporary table."""
        table = connection.ops.quote_name(InjectionSession._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMPORARY TABLE IF NOT EXISTS seed_scale_signature "
                "(id bigint, signed_at timestamptz, signed_by_id bigint, content_sha256 varchar(64)) ON COMMIT DROP"
            )
            with cursor.cursor.copy("COPY seed_scale_signature FROM STDIN") as copy:
                for row in signatures:
                    copy.write_row(row)
            cursor.execute(
                f"UPDATE {table} AS s SET signed_at = t.signed_at, signed_by_id = t.signed_by_id, "  # noqa: S608
                "content_sha256 = t.content_sha256 FROM seed_scale_signature AS t WHERE s.id = t.id"
            )
            cursor.execute("TRUNCATE seed_scale_signature")
        signatures.clear()

    # --- After ------------------------------------------------------------------------------------------------

    def _analyze(self, loader: Loader) -> None:
        with connection.cursor() as cursor:
            for table in loader.tables.values():
                cursor.execute(f"ANALYZE {connection.ops.quote_name(table.name)}")

    def _report(self, loader: Loader, analyze_seconds: float, total_seconds: float) -> None:
        self.stdout.write(f"{'table':<36} {'rows':>12} {'COPY s':>8}")
        for table in loader.tables.values():
            self.stdout.write(f"{table.name:<36} {table.rows:>12,} {table.seconds:>8.1f}")
        copying = sum(table.seconds for table in loader.tables.values())
        self.stdout.write(
            f"Generating rows {self.generating_seconds:.1f} s, COPY {copying:.1f} s, ANALYZE {analyze_seconds:.1f} s; "
            f"total {total_seconds:.1f} s."
        )


def _minute(moment: datetime) -> int:
    return moment.hour * 60 + moment.minute
