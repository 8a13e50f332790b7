"""The aftercare sheet's first wording. Managers change it in the admin; a saved change adds or edits a row,
and the newest row is printed. Reversing removes only the row this migration added."""

from django.db import migrations

WHAT_IS_NORMAL = """\
Some soreness, aching or a tight feeling where the needle went in. It usually settles within a day or two.
Small bruises or pin-prick marks. They fade over a few days.
Your pain may ease within minutes of the injections. The relief may last hours or days at first, and usually lasts longer after each session.
Your usual pain may come back before the next session. This is expected early in a course and does not mean the treatment has failed.
Feeling a little tired or light-headed straight after treatment. Sit down, have a drink and a snack, and it should pass."""

WHAT_TO_DO = """\
Take it easy for the rest of today. Gentle walking is fine; leave hard exercise and heavy lifting until tomorrow.
Keep the injection sites clean and dry today. A shower is fine tomorrow; avoid baths, pools and saunas for 24 hours.
Do not rub or massage the injection sites today.
Carry on with your usual medicines unless your clinician has told you otherwise.
Before your next session, eat a light meal and drink as usual, so you are less likely to feel faint.
Notice how your pain changes over the next week. Your clinician will ask you about it next time."""

RED_FLAGS = """\
Redness that is spreading, or skin around a site that becomes hot, swollen or more painful after the first day.
Pus or any fluid coming from an injection site.
A temperature of 38 °C or more, shivering, or feeling generally unwell.
Bleeding that does not stop after 10 minutes of firm pressure.
Call 999 (or your local emergency number) at once for a rash or hives with swelling of the lips, face or tongue, or any difficulty breathing."""

WHEN_TO_CALL = """\
In opening hours, phone the clinic on the number below. Tell us you had injection treatment and when.
Out of hours, contact your GP's out-of-hours service or NHS 111, and show them this sheet.
For breathing difficulty or swelling of the face or tongue, do not wait: call 999."""


def add_wording(apps, schema_editor):
    AftercareText = apps.get_model("documents", "AftercareText")
    if not AftercareText.objects.exists():
        AftercareText.objects.create(
            what_is_normal=WHAT_IS_NORMAL, what_to_do=WHAT_TO_DO, red_flags=RED_FLAGS, when_to_call=WHEN_TO_CALL
        )


def remove_wording(apps, schema_editor):
    AftercareText = apps.get_model("documents", "AftercareText")
    AftercareText.objects.filter(
        what_is_normal=WHAT_IS_NORMAL, what_to_do=WHAT_TO_DO, red_flags=RED_FLAGS, when_to_call=WHEN_TO_CALL
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("documents", "0001_initial")]

    operations = [migrations.RunPython(add_wording, remove_wording)]
