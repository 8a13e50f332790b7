from pathlib import Path

from django.core.cache import cache
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from pit_portal.backups.management.commands.backup import documents_store
from pit_portal.backups.postgres import BackupError, Database
from pit_portal.backups.restore import RestoreReport, restore_backup


class Command(BaseCommand):
    help = (
        "Restore a backup made by `manage.py backup`: checks its checksums, loads the database (which must be "
        "empty unless --force), unpacks the documents, then checks row counts, document checksums and the "
        "audit trail."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--from", dest="folder", type=Path, required=True, help="the backup folder")
        parser.add_argument("--database-url", help="restore into this database (default: DATABASE_URL)")
        parser.add_argument(
            "--documents-root",
            type=Path,
            help="unpack documents into this folder (default: the portal's document store, DOCUMENTS_ROOT or bucket)",
        )
        parser.add_argument(
            "--force", action="store_true", help="restore into a database that already has tables, replacing them"
        )

    def handle(self, *args, folder: Path, database_url, documents_root, force: bool, **options) -> None:
        try:
            target = (
                Database.from_url(database_url)
                if database_url
                else Database.from_django(connections["direct"].settings_dict)
            )
            report = restore_backup(folder, target, documents_root or documents_store(), force=force)
        except BackupError as error:
            raise CommandError(str(error)) from None
        # A restored database hands out diary versions again that pages may already be cached under.
        cache.clear()
        self.print_summary(folder, target, report)
        if report.problems:
            failed = "\n  ".join(report.problems)
            raise CommandError(f"The database was restored, but these checks failed:\n  {failed}")

    def print_summary(self, folder: Path, target: Database, report: RestoreReport) -> None:
        self.stdout.write(f"Restored {folder} (taken {report.manifest['created_at']}) into {target.name!r}:")
        self.stdout.write(f"  {report.tables} tables, {report.rows} rows")
        self.stdout.write(f"  {report.documents} stored documents")
        self.stdout.write(f"  {report.audit_events} audit events")
        if not report.problems:
            self.stdout.write(
                self.style.SUCCESS(
                    "Row counts match the manifest, every document matches its checksum, the audit trail is intact."
                )
            )
            self.stdout.write("Next: `manage.py migrate` applies any migrations newer than the backup.")
