"""The superficial nerves PIT commonly treats, by region; managers edit the list in the admin."""

from django.db import migrations
from django.utils.text import slugify

NERVES = {
    "head_neck": [
        "Greater occipital nerve",
        "Lesser occipital nerve",
        "Supraorbital nerve",
        "Supratrochlear nerve",
        "Auriculotemporal nerve",
        "Great auricular nerve",
        "Transverse cervical nerve",
        "Supraclavicular nerves",
    ],
    "upper_limb": [
        "Medial antebrachial cutaneous nerve",
        "Lateral antebrachial cutaneous nerve",
        "Posterior antebrachial cutaneous nerve",
        "Superficial branch of the radial nerve",
        "Palmar cutaneous branch of the median nerve",
        "Dorsal cutaneous branch of the ulnar nerve",
        "Digital nerves",
        "Intercostobrachial nerve",
        "Lateral brachial cutaneous nerve",
        "Medial brachial cutaneous nerve",
    ],
    "trunk_back": [
        "Dorsal rami, cutaneous branches",
        "Superior cluneal nerves",
        "Middle cluneal nerves",
        "Intercostal nerve, lateral cutaneous branch",
        "Intercostal nerve, anterior cutaneous branch",
        "Iliohypogastric nerve",
        "Ilioinguinal nerve",
        "Genitofemoral nerve",
    ],
    "lower_limb": [
        "Lateral femoral cutaneous nerve",
        "Anterior femoral cutaneous nerves",
        "Saphenous nerve",
        "Infrapatellar branch of the saphenous nerve",
        "Obturator nerve, cutaneous branch",
        "Common fibular (peroneal) nerve",
        "Superficial fibular (peroneal) nerve",
        "Deep fibular (peroneal) nerve",
        "Sural nerve",
        "Medial calcaneal nerve",
        "Lateral calcaneal nerve",
        "Medial plantar nerve",
        "Lateral plantar nerve",
        "Posterior femoral cutaneous nerve",
    ],
}


def load(apps, schema_editor):
    Nerve = apps.get_model("assessments", "Nerve")
    for region, names in NERVES.items():
        for order, name in enumerate(names, start=1):
            Nerve.objects.get_or_create(
                code=slugify(name)[:60], defaults={"name": name, "region": region, "sort_order": order * 10}
            )


def unload(apps, schema_editor):
    apps.get_model("assessments", "Nerve").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("assessments", "0002_assessment_course")]

    operations = [migrations.RunPython(load, unload)]
