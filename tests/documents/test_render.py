"""Render: the PDFs hold real text (checked with pypdf) with what the clinic promises to print on them."""

import io
from datetime import timedelta
from decimal import Decimal

import pypdf
from django.template.loader import render_to_string
from django.utils import dateformat, timezone
from django.utils.html import strip_tags
from weasyprint.layout import table as weasyprint_tables

from assessments.models import PainArea
from documents import context, render
from documents.models import AftercareText, DocumentKind
from scheduling.models import AppointmentStatus
from tests.documents.conftest import document_of, pdf_pages, pdf_text
from tests.factories import AssessmentFactory
from tests.scheduling.factories import AppointmentFactory
from treatments import services as treatment_services
from treatments.models import AdverseEvent


def rendered(document):
    return render.render_pdf(*context.template_and_context(document))


def nerve_names(session) -> list[str]:
    return [site.nerve.name for site in session.sites.select_related("nerve")]


def long_date(moment) -> str:
    return dateformat.format(timezone.localtime(moment), "l j F Y")


def test_aftercare_sheet_says_what_was_done_and_when_to_come_back(settings, signed, aftercare, next_visit):
    settings.CLINIC_NAME = "Riverside Pain Clinic"
    settings.CLINIC_PHONE = "+44 20 7946 0321"
    text = pdf_text(rendered(aftercare).content)

    for name in nerve_names(signed):
        assert name in text
    assert "Dextrose 5% in sterile water" in text
    assert signed.total_volume_ml == Decimal("6.00")  # 3 sites x 4 points x 0.5 mL
    assert "6.00 mL" in text
    assert f"{long_date(next_visit.starts_at)} at 10:30" in text
    assert "Riverside Pain Clinic" in text and "+44 20 7946 0321" in text


def test_aftercare_wording_comes_from_the_newest_row_managers_saved(signed, aftercare):
    AftercareText.objects.create(
        what_is_normal="A little tenderness.", what_to_do="Rest today.", red_flags="Spreading redness.",
        when_to_call="Call the clinic.",
    )  # fmt: skip
    text = pdf_text(rendered(aftercare).content)
    assert "A little tenderness." in text and "Spreading redness." in text


def test_default_aftercare_wording_is_installed_by_the_data_migration(db):
    wording = AftercareText.objects.get()
    assert "bruis" in wording.what_is_normal.lower()
    assert "redness" in wording.red_flags.lower() and "breathing" in wording.red_flags.lower()


def test_aftercare_says_none_booked_when_the_only_later_appointment_is_cancelled(signed, aftercare, clinician):
    AppointmentFactory(
        patient=signed.course.patient, clinician=clinician, status=AppointmentStatus.CANCELLED,
        starts_at=timezone.now() + timedelta(days=3),
    )  # fmt: skip
    text = pdf_text(rendered(aftercare).content)
    assert "None booked yet — call us" in text


def test_visit_summary_has_identifiers_the_note_chart_body_map_and_signature(
    draft, clinician, next_visit, django_capture_on_commit_callbacks
):
    patient = draft.course.patient
    assessment = AssessmentFactory(patient=patient, assessed_at=draft.performed_at - timedelta(days=20))
    PainArea.objects.create(assessment=assessment, region="F-THIGH-L", intensity=7, tender=True)
    AdverseEvent.objects.create(session=draft, kind="bruising", severity="mild", note="Small bruise")
    with django_capture_on_commit_callbacks(execute=False):
        signed = treatment_services.session_sign(session=draft, by=clinician)
    text = pdf_text(rendered(document_of(signed, DocumentKind.VISIT_SUMMARY)).content)

    assert patient.full_name in text and patient.clinic_number in text
    assert dateformat.format(patient.date_of_birth, "j M Y") in text
    for name in nerve_names(signed):
        assert name in text
    assert "Pain before 7 / 10" in text and "Pain after 3 / 10" in text and "57% better" in text  # (7 - 3) / 7
    assert "Bruising (mild): Small bruise" in text
    assert "Front of thigh, left: 7/10, tender" in text  # the body map's list
    assert "Pain over the course" in text  # the course chart's title, drawn as real text
    # A record of the visit: it names no appointment, which could be moved or cancelled after it was made.
    assert long_date(next_visit.starts_at) not in text and "Next appointment" not in text
    assert f"Signed electronically by {clinician.get_full_name()}" in text


def test_every_page_has_the_patient_name_date_and_page_number(signed, summary, clinician, next_visit):
    treatment_services.addendum_add(session=signed, text="Called next day. " * 150, by=clinician)
    summary_v2 = document_of(signed, DocumentKind.VISIT_SUMMARY)
    pdf = rendered(summary_v2)
    pages = pdf_pages(pdf.content)

    assert pdf.page_count == len(pages) >= 2
    name = signed.course.patient.full_name
    day = dateformat.format(timezone.localtime(signed.performed_at), "j M Y")
    for number, page in enumerate(pages, start=1):
        assert name in page
        assert f"Visit summary · {day}" in page
        assert f"Page {number} of {len(pages)}" in page


def test_pdf_embeds_the_fonts_the_project_ships(signed, aftercare):
    reader = pypdf.PdfReader(io.BytesIO(rendered(aftercare).content))
    fonts = {
        str(font.get_object()["/BaseFont"]).split("+")[-1] for font in reader.pages[0]["/Resources"]["/Font"].values()
    }
    assert fonts == {"DejaVu-Sans", "DejaVu-Sans-Bold"}


def test_pdf_tables_are_fixed_layout_so_no_cell_is_measured_before_layout(signed, aftercare, summary, monkeypatch):
    """An auto-layout table makes WeasyPrint lay every cell's text out twice more, to find the narrowest and
    widest it could be, before the real layout: a fifth of a render's text layout. The PDF stylesheet makes every
    table fixed-layout, with column widths of its own, so that pass never runs."""
    measured = []
    auto_table_layout = weasyprint_tables.auto_table_layout

    def measuring(context, wrapper, containing_block):
        measured.append(wrapper.get_wrapped_table().element_tag)
        return auto_table_layout(context, wrapper, containing_block)

    monkeypatch.setattr(weasyprint_tables, "auto_table_layout", measuring)
    for document in (aftercare, summary):
        text = pdf_text(rendered(document).content)
        assert all(name in text for name in nerve_names(signed))  # the sites table is there, laid out
    assert measured == []


def test_visit_summary_says_which_way_pain_went_and_reads_the_response(
    draft, clinician, django_capture_on_commit_callbacks
):
    course = draft.course
    course.baseline_assessment = AssessmentFactory(
        patient=course.patient, course=course, nrs_current=4, assessed_at=draft.performed_at - timedelta(days=7)
    )
    course.save()
    type(draft).objects.filter(pk=draft.pk).update(pre_nrs=5, post_nrs=6)  # still a draft, so still editable
    with django_capture_on_commit_callbacks(execute=False):
        signed = treatment_services.session_sign(session=draft, by=clinician)
    # The HTML WeasyPrint is given, read as text: what the PDF prints, without laying out a PDF.
    html = render_to_string(*context.template_and_context(document_of(signed, DocumentKind.VISIT_SUMMARY)))
    text = " ".join(strip_tags(html).split())

    # 5 before, 6 after: (6 - 5) / 5; and the latest score 5 against the baseline 4: (5 - 4) / 4.
    assert '<th>Immediate change</th><td><span class="worse">20% worse</span></td>' in html
    assert "latest before-injection score 5/10 (25% worse; response: not yet)" in text
    assert '<span class="worse">25% worse</span>' in html
    assert "relief" not in text.lower() and "-20%" not in text and "-25%" not in text
