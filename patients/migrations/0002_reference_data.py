"""The starting condition list and the first consent text; managers edit both in the admin."""

from django.db import migrations
from django.utils import timezone
from django.utils.text import slugify

CONDITIONS = {
    "Neuropathic pain": [
        "Diabetic neuropathy",
        "Post-herpetic neuralgia",
        "Other neuropathic pain",
    ],
    "Musculoskeletal pain": ["Tendinitis", "Bursitis", "Ligament injury"],
    "Regional pain": ["Complex regional pain syndrome (CRPS)"],
    "Arthritis": ["Osteoarthritis", "Rheumatoid arthritis"],
    "Headache": ["Migraine or other headache disorder"],
    "Nerve entrapment": ["Carpal tunnel syndrome", "Tingling in hands or arms"],
    "Sports and overuse": [
        "Iliotibial band syndrome",
        "Lateral epicondylitis (tennis elbow)",
        "Medial epicondylitis (golfer's elbow)",
    ],
    "Back": ["Low back pain"],
    "Skin and scar": ["Pain from scar tissue"],
    "Other": ["Other"],
}

CONSENT_TITLE = "Consent to Perineural Injection Therapy"
CONSENT_BODY = """\
Perineural Injection Therapy (PIT) treats pain that comes from irritated nerves just under \
the skin. A fine needle places small amounts of a weak sugar (dextrose) solution under the \
skin along the nerves that hurt. The solution may also contain a little local anaesthetic. \
A course is usually several sessions, a week or two apart.

Most people feel only a brief sting. As with any injection, there are risks:
- infection where the needle went in (rare);
- pain, soreness or bruising at the injection sites, usually gone within a few days;
- an allergic reaction, which is rare and mostly linked to local anaesthetics.

Tell the clinician before every session if you take blood thinners, have a bleeding \
disorder, are pregnant or breastfeeding, have diabetes, are allergic to local anaesthetics \
or to corn, or have an infection or open wound.

The benefit is not guaranteed, and several sessions may be needed. You can ask questions \
at any time, and you may stop treatment whenever you wish without it affecting your other care.

By signing you confirm that you have read and understood this information, that your \
questions have been answered, and that you agree to be treated."""


def load(apps, schema_editor):
    Condition = apps.get_model("patients", "Condition")
    ConsentText = apps.get_model("patients", "ConsentText")
    order = 0
    for group, names in CONDITIONS.items():
        for name in names:
            order += 10
            code = "other" if name == "Other" else slugify(name)[:50]
            Condition.objects.get_or_create(code=code, defaults={"name": name, "group": group, "sort_order": order})
    ConsentText.objects.get_or_create(
        version=1, defaults={"title": CONSENT_TITLE, "body": CONSENT_BODY, "published_at": timezone.now()}
    )


def unload(apps, schema_editor):
    apps.get_model("patients", "Condition").objects.all().delete()
    apps.get_model("patients", "ConsentText").objects.filter(version=1).delete()


class Migration(migrations.Migration):
    dependencies = [("patients", "0001_initial")]

    operations = [migrations.RunPython(load, unload)]
