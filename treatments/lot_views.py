"""The lot recall page and its CSV: every patient injected from a product lot (treatments.lots).

Both are a disclosure of each listed patient's contact details and injections to the user, recorded in the audit
trail as an EXPORT event per patient (audit.disclosures.LOT_RECALL), which that patient's accounting of disclosures
lists. A search that lists nobody discloses nothing and records nothing. The lot and dates travel in the query
string, which the audit trail does not keep: the events' detail holds them.
"""

import re

from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.decorators import AuthenticatedHttpRequest, permission_required
from audit.disclosures import LOT_RECALL
from audit.exports import csv_download
from audit.models import Action
from audit.services import record_for_patients
from treatments import lots

TEMPLATE = "treatments/lot_recall.html"


def _disclosed(request: AuthenticatedHttpRequest, recall: lots.LotRecall, *, via: str) -> None:
    """One event per patient listed, in the order listed, in one query; none when nobody is listed."""
    if not recall.patients:
        return
    search = {"export": LOT_RECALL, **recall.search.as_detail(), "via": via}
    details = {line.patient_id: {**search, "sessions": len(line.sessions)} for line in recall.patients}
    record_for_patients(Action.EXPORT, request=request, details=details)


def _refused(request: AuthenticatedHttpRequest, form: lots.LotRecallForm) -> HttpResponse:
    """The form with what is wrong next to each field: 400, nothing searched and nothing recorded."""
    return render(request, TEMPLATE, {"form": form}, status=400)


@require_GET
@permission_required("treatments.recall_lot")
def lot_recall(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = lots.LotRecallForm(request.GET or None)
    if not form.is_bound:
        return render(request, TEMPLATE, {"form": form})
    if not form.is_valid():
        return _refused(request, form)
    search = form.search()
    recall = lots.lot_recall(search)
    matching, more = lots.lots_starting_with(search)
    _disclosed(request, recall, via="page")
    context = {"form": form, "recall": recall, "matching": matching, "more": more, "listed": lots.LOTS_LISTED}
    return render(request, TEMPLATE, context)


@require_GET
@permission_required("treatments.recall_lot")
def lot_recall_csv(request: AuthenticatedHttpRequest) -> HttpResponse | StreamingHttpResponse:
    """Exactly the rows the page lists for the same search, one per session; a search that lists nobody gives
    the header alone."""
    form = lots.LotRecallForm(request.GET)
    if not form.is_valid():
        return _refused(request, form)
    recall = lots.lot_recall(form.search())
    _disclosed(request, recall, via="csv")
    # The lot's own letters only: a file name is no place for quotes or slashes.
    name = "lot-recall-" + re.sub(r"[^A-Za-z0-9-]", "", recall.search.lot.upper())
    return csv_download(name, lots.CSV_HEADER, lots.recall_csv_rows(recall))
