"""A patient's accounting of disclosures: downloads, emails and exports of their data, for managers."""

import csv
import html
import io
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import Action
from audit.services import record
from documents import notifications
from documents.models import DocumentKind
from tests.audit.helpers import events
from tests.documents.helpers import ready_document_for
from tests.portal.helpers import make_document


def page_for(patient) -> str:
    return reverse("audit:disclosures", args=[patient.pk])


def rows_of(response) -> list[list[str]]:
    """The table's cells, as text."""
    body = response.text.split('id="disclosures"', 1)[1].split("</table>", 1)[0]
    return [
        [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>", 1)[1], re.S)
    ]


@pytest.fixture
def disclosed(clinician_client, patient_client, patient, other_patient, settings):
    """The patient's aftercare sheet downloaded by the clinician and by the patient, and the ready email sent;
    plus things that are not disclosures (a page view) or not this patient's (another patient's download)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    document = make_document(patient)
    patient.email = "charlie@example.org"
    patient.save()
    clinician_client.get(reverse("patients:detail", args=[patient.pk]))
    clinician_client.get(reverse("documents:download", args=[document.pk]))
    patient_client.get(reverse("portal:document_download", args=[document.pk]))
    notifications.document_ready_email_send(document.pk)
    clinician_client.get(reverse("documents:download", args=[ready_document_for(other_patient).pk]))
    return document


def test_the_page_lists_each_disclosure_newest_first(manager_client, patient, disclosed):
    response = manager_client.get(page_for(patient))
    assert response.status_code == 200
    visit = timezone.localdate(disclosed.session.performed_at).strftime("%d/%m/%Y")
    what = f"Aftercare sheet of the visit on {visit}"
    assert [row[1:] for row in rows_of(response)] == [
        [
            "The clinic's system (automatic)",
            what,
            "Emailed to the patient: a notice with a link to the portal, no attachment",
        ],
        ["The patient", what, "Downloaded by the patient through the patient portal"],
        ["Alice Carter", what, "Downloaded from the clinic's pages"],
    ]
    assert "Charlie" in response.text  # the heading names the patient; the rows never show document content


def test_another_patient_s_page_shows_only_theirs(manager_client, other_patient, disclosed):
    rows = rows_of(manager_client.get(page_for(other_patient)))
    assert [row[1] for row in rows] == ["Alice Carter"]
    assert rows[0][2].startswith("Aftercare sheet of the visit on")


def test_a_later_version_is_named_as_such(manager_client, clinician_client, patient):
    document = make_document(patient, kind=DocumentKind.VISIT_SUMMARY, version=2)
    clinician_client.get(reverse("documents:download", args=[document.pk]))
    [row] = rows_of(manager_client.get(page_for(patient)))
    assert row[2].startswith("Visit summary of the visit on") and row[2].endswith(", version 2")


def test_nothing_disclosed_says_so(manager_client, patient):
    response = manager_client.get(page_for(patient))
    assert 'id="disclosures-empty"' in response.text


def test_the_csv_export_lists_the_same_and_is_itself_a_disclosure(manager_client, manager, patient, disclosed):
    response = manager_client.get(reverse("audit:disclosures_export", args=[patient.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith(f'attachment; filename="disclosures-{patient.clinic_number}-')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["who"] for row in rows] == ["The clinic's system (automatic)", "The patient", "Alice Carter"]
    assert all(row["what"].startswith("Aftercare sheet of the visit on") for row in rows)
    [exported] = events(Action.EXPORT, actor=manager)
    assert exported.patient == patient
    assert exported.detail == {"export": "disclosures", "format": "csv"}
    first = rows_of(manager_client.get(page_for(patient)))[0]
    assert first[1:] == ["Mona Lind", "This accounting of disclosures", "Exported as a CSV file"]


def test_an_audit_report_export_about_the_patient_is_listed(manager_client, patient, disclosed):
    manager_client.get(reverse("audit:export"), {"patient": patient.clinic_number})
    first = rows_of(manager_client.get(page_for(patient)))[0]
    assert first[1:] == ["Mona Lind", "An extract of the audit trail about this patient", "Exported as a CSV file"]


def test_the_page_runs_a_fixed_number_of_queries(manager_client, patient, django_assert_max_num_queries):
    def queries(downloads: int) -> int:
        for _ in range(downloads):
            document = make_document(patient)
            record(Action.DOCUMENT_DOWNLOADED, patient=patient, obj=document, detail={"via": "staff"})
        with django_assert_max_num_queries(10) as captured:
            assert manager_client.get(page_for(patient)).status_code == 200
        return len(captured.captured_queries)

    assert queries(2) == queries(30)


def test_the_patient_page_links_to_it_for_managers_only(manager_client, clinician_client, patient):
    link = f'href="{page_for(patient)}"'
    assert link in manager_client.get(reverse("patients:detail", args=[patient.pk])).text
    assert link not in clinician_client.get(reverse("patients:detail", args=[patient.pk])).text


@pytest.mark.parametrize("persona", ["clinician_client", "front_desk_client", "patient_client"])
def test_only_managers_may_see_it(request, persona, patient):
    client = request.getfixturevalue(persona)
    assert client.get(page_for(patient)).status_code == 403
    assert client.get(reverse("audit:disclosures_export", args=[patient.pk])).status_code == 403


def test_a_missing_patient_is_a_404(manager_client, patient):
    assert manager_client.get(reverse("audit:disclosures", args=[patient.pk + 1000])).status_code == 404
