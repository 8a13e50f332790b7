"""`{% session_documents_status session %}` and `{% patient_documents_status patient %}`: the documents box,
rendered in the page and refreshed by htmx polling while any document is being prepared."""

from django import template
from django.utils.safestring import SafeString

from documents import status

register = template.Library()


@register.simple_tag(takes_context=True)
def session_documents_status(context, session) -> SafeString:
    request = context["request"]
    documents = status.session_documents(request.user, session.pk)
    return status.status_box(request, documents, scope="session", scope_id=session.pk)


@register.simple_tag(takes_context=True)
def patient_documents_status(context, patient) -> SafeString:
    request = context["request"]
    documents = status.patient_documents(request.user, patient.pk)
    return status.status_box(request, documents, scope="patient", scope_id=patient.pk)
