from django.core.management.base import BaseCommand, CommandError

from audit.services import verify_chain


class Command(BaseCommand):
    help = "Check the audit trail's hash chain and report the first row that was altered or removed."

    def handle(self, *args, **options) -> None:
        check = verify_chain()
        if not check.intact:
            raise CommandError(f"Audit trail broken at event {check.first_broken_id}: {check.problem}.")
        self.stdout.write(self.style.SUCCESS(f"Audit trail intact: {check.rows} events checked."))
