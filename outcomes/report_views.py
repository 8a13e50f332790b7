"""The outcomes report for clinicians and managers, and its CSV: aggregate figures only, never a patient."""

from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET

from accounts.decorators import AuthenticatedHttpRequest, permission_required
from audit.exports import csv_download
from audit.models import Action
from audit.services import record
from outcomes import report as outcomes_report
from outcomes.charts import Bar, bar_chart_svg
from outcomes.forms import ReportPeriodForm

REPORT_PERMISSION = "outcomes.view_outcomes_report"
RESPONDER_CHART_TITLE = "Responders (pain at least 30% lower at the end of the course), by condition"


def _responder_chart(report: outcomes_report.Report) -> SafeString:
    condition = next(table for table in report.tables if table.key == "condition")
    bars = [Bar(row.label, None if row.figures.too_few else row.figures.responders_30) for row in condition.rows]
    return bar_chart_svg(bars, title=RESPONDER_CHART_TITLE)


def _page(request: AuthenticatedHttpRequest, form: ReportPeriodForm) -> HttpResponse:
    """The report for a valid period; the form with its messages and 400 for one that is not."""
    if not form.is_valid():
        return render(request, "outcomes/report.html", {"form": form}, status=400)
    report = outcomes_report.cached_outcomes_report(*form.period())
    context = {
        "form": form,
        "report": report,
        "columns": outcomes_report.COLUMNS,
        "chart": _responder_chart(report),
        "min_courses": outcomes_report.MIN_COURSES_FOR_RATES,
        "too_few": outcomes_report.TOO_FEW,
    }
    return render(request, "outcomes/report.html", context)


@require_GET
@permission_required(REPORT_PERMISSION)
def report(request: AuthenticatedHttpRequest) -> HttpResponse:
    return _page(request, ReportPeriodForm(request.GET))


@require_GET
@permission_required(REPORT_PERMISSION)
def report_export(request: AuthenticatedHttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The page's rows as CSV, recorded as an export with its period and no patient: the figures are aggregate,
    and a group too small to show rates without pointing at a patient says "too few" here too."""
    form = ReportPeriodForm(request.GET)
    if not form.is_valid():
        return _page(request, form)
    started_from, started_to = form.period()
    period = {"started_from": started_from.isoformat(), "started_to": started_to.isoformat()}
    rows = outcomes_report.outcomes_report(started_from, started_to).csv_rows()  # counted afresh: what is exported
    record(Action.EXPORT, request=request, detail={"export": "outcomes_report", "format": "csv", "filters": period})
    return csv_download("outcomes-report", outcomes_report.CSV_HEADER, rows)
