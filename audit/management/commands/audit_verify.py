from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit.heads import UnreadableHeads, recorded_heads
from audit.services import verify_chain


class Command(BaseCommand):
    help = (
        "Check the audit trail's keyed hash chain and report the first event that was altered or removed, then "
        "compare it with the heads recorded outside the database to name events cut from its end."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--heads",
            action="append",
            type=Path,
            metavar="FILE",
            help="A head file or a copy of the portal's log (repeatable; default AUDIT_HEAD_FILE).",
        )
        parser.add_argument(
            "--backup",
            action="append",
            type=Path,
            metavar="FOLDER",
            help="A backup folder whose manifest.json holds a head (repeatable; default every backup in BACKUP_DIR).",
        )

    def handle(self, *args, heads=None, backup=None, **options) -> None:
        try:
            check = verify_chain(recorded_heads(heads, backup))
        except UnreadableHeads as error:
            raise CommandError(str(error)) from None
        if check.first_broken_id is not None:
            raise CommandError(f"Audit trail broken at event {check.first_broken_id}: {check.problem}.")
        if check.missing:
            raise CommandError(f"Audit trail cut: {check.missing}.")
        counted = f"{check.heads_checked} recorded head{'s' if check.heads_checked != 1 else ''}"
        self.stdout.write(self.style.SUCCESS(f"Audit trail intact: {check.rows} events checked against {counted}."))
        if not check.heads_checked:
            self.stdout.write(
                self.style.WARNING(
                    "No head recorded outside the database was found: events cut from the end would not show."
                )
            )
