"""collectstatic as a production deployment runs it: the manifest storage, which rewrites every url() in
the stylesheets to a hashed name and fails on one it cannot find."""

import json

from django.core.management import call_command

PRODUCTION_STATIC_STORAGE = "whitenoise.storage.CompressedManifestStaticFilesStorage"


def test_collectstatic_succeeds_with_the_manifest_storage(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": PRODUCTION_STATIC_STORAGE}}

    call_command("collectstatic", interactive=False, verbosity=0)

    manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    assert "css/portal.css" in manifest
    # The PDF stylesheet's fonts are fetched by the PDF renderer, not the browser: their URLs stay as written.
    pdf_css = (tmp_path / manifest["css/pdf.css"]).read_text()
    assert 'url("pitstatic:fonts/dejavu-fonts-ttf-2.37.3/DejaVuSans.ttf")' in pdf_css
