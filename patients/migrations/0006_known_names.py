"""The names on file as a table of their own, which the name search matches a word against.

- `patients_knownname`: each distinct name a patient has or had, with a trigram index (patients.KnownName).
- `patient_names_known()`: a trigger function that adds a patient's names after every INSERT, and every UPDATE of
  a name, of a patients row, however it is written (forms, admin, raw SQL, loaddata).
- `known_names_add_all()`: adds every name on file; this migration fills the table with it, and `seed_scale`
  calls it after loading with the triggers off.
- `trigram_operator_costs()`: tells the planner what pg_trgm's `%` and `%>` cost (about a hundred simple
  comparisons each, as measured; pg_trgm declares them as cheap as one). Believing them cheap, PostgreSQL compared
  the word with every known name (1.8 ms for 608 names) rather than look it up in their trigram index (0.1 ms).
  Settings of an extension's own functions are not in a dump, so a restore calls it again.
- `patient_names`: one GIN index on a patient's three names as an array, which finds the patients having any
  of the names a word matched. It replaces the three trigram indexes on the patients' own name columns, which
  the search no longer reads.
"""

import django.contrib.postgres.indexes
from django.db import migrations, models

import patients.models

FUNCTIONS = """
CREATE FUNCTION patient_names_known() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO patients_knownname (name)
    SELECT name FROM unnest(ARRAY[NEW.family_name, NEW.given_name, NEW.preferred_name]::text[]) AS name
    WHERE name <> ''
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;

CREATE TRIGGER patient_names_known
AFTER INSERT OR UPDATE OF family_name, given_name, preferred_name ON patients_patient
FOR EACH ROW EXECUTE FUNCTION patient_names_known();

CREATE FUNCTION known_names_add_all() RETURNS void
LANGUAGE sql AS $$
    INSERT INTO patients_knownname (name)
    SELECT DISTINCT name
    FROM patients_patient, unnest(ARRAY[family_name, given_name, preferred_name]::text[]) AS name
    WHERE name <> ''
    ON CONFLICT DO NOTHING
$$;

SELECT known_names_add_all();

CREATE FUNCTION trigram_operator_costs() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    ALTER FUNCTION similarity_op(text, text) COST 100;
    ALTER FUNCTION word_similarity_commutator_op(text, text) COST 100;
END;
$$;

SELECT trigram_operator_costs();
"""

DROP_FUNCTIONS = """
ALTER FUNCTION similarity_op(text, text) COST 1;
ALTER FUNCTION word_similarity_commutator_op(text, text) COST 1;
DROP FUNCTION trigram_operator_costs();
DROP FUNCTION known_names_add_all();
DROP TRIGGER patient_names_known ON patients_patient;
DROP FUNCTION patient_names_known();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0005_name_trigram_indexes_without_pending_list"),
    ]

    operations = [
        migrations.CreateModel(
            name="KnownName",
            fields=[
                ("name", models.TextField(primary_key=True, serialize=False)),
            ],
        ),
        migrations.AddIndex(
            model_name="knownname",
            index=django.contrib.postgres.indexes.GinIndex(
                fastupdate=False, fields=["name"], name="knownname_trgm", opclasses=["gin_trgm_ops"]
            ),
        ),
        migrations.RunSQL(FUNCTIONS, DROP_FUNCTIONS),
        migrations.AddIndex(
            model_name="patient",
            index=django.contrib.postgres.indexes.GinIndex(
                patients.models.NamesOf(), fastupdate=False, name="patient_names"
            ),
        ),
        migrations.RemoveIndex(model_name="patient", name="patient_family_trgm"),
        migrations.RemoveIndex(model_name="patient", name="patient_given_trgm"),
        migrations.RemoveIndex(model_name="patient", name="patient_preferred_trgm"),
    ]
