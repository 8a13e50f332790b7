"""Keep the planner's statistics of the user table fresh.

Records join the staff who made them (clinician, signer, witness, author) through accounts_user. With
PostgreSQL's default, autovacuum analyses a table after a tenth of its rows change, so in a clinic with many
patient accounts a newly added clinician can stay unknown to the statistics for months and the planner reads
every user to find them. Analysing after every 50 changed rows keeps new staff in the statistics; the table is
small, so an ANALYZE costs a few milliseconds."""

from django.db import migrations

FRESH = "ALTER TABLE accounts_user SET (autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 50)"
DEFAULT = "ALTER TABLE accounts_user RESET (autovacuum_analyze_scale_factor, autovacuum_analyze_threshold)"


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_security")]

    operations = [migrations.RunSQL(FRESH, DEFAULT)]
