from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage, default_storage
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.utils import timezone

from pit_portal.backups.create import make_backup
from pit_portal.backups.postgres import BackupError, Database


def documents_store() -> Path | Storage:
    """The portal's document store: its folder on the file system, or the storage itself (an S3-compatible bucket),
    read and written through the storage API."""
    if isinstance(default_storage, FileSystemStorage):
        return Path(default_storage.location)
    return default_storage


class Command(BaseCommand):
    help = "Back up the database (pg_dump) and the document store into a new private folder under BACKUP_DIR."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--output-dir", type=Path, help="where to put the backup folder (default: BACKUP_DIR)")

    def handle(self, *args, output_dir: Path | None, **options) -> None:
        try:
            backup = make_backup(
                database=Database.from_django(connections["direct"].settings_dict),
                documents=documents_store(),
                backup_root=output_dir or Path(settings.BACKUP_DIR),
                now=timezone.now(),
            )
        except BackupError as error:
            raise CommandError(str(error)) from None
        manifest = backup.manifest
        counts = manifest["row_counts"]
        self.stdout.write(
            f"Database {manifest['database']['name']!r} (PostgreSQL {manifest['database']['server_major']}, "
            f"pg_dump {manifest['pg_dump']['major']}): {len(counts)} tables, {sum(counts.values())} rows."
        )
        documents = manifest["documents"]
        self.stdout.write(
            f"Documents: {documents['files']} files, {documents['checked']} checked against their SHA-256."
        )
        if backup.document_problems:
            # The backup is kept (it is still the best copy there is); the exit status tells the operator.
            listed = "\n  ".join(backup.document_problems)
            raise CommandError(
                f"Backup written to {backup.folder}, but {len(backup.document_problems)} documents failed their "
                f"check:\n  {listed}\nRe-render them from the signed records (Retry on the patient's page)."
            )
        self.stdout.write(self.style.SUCCESS(f"Backup written to {backup.folder}"))
