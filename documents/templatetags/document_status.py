"""`{% session_documents_status session %}`: the documents box of the session page, refreshed by htmx polling
while any document is being prepared (the patient page places documents.status.patient_box itself)."""

from django import template
from django.utils.safestring import SafeString

from documents import status

register = template.Library()


@register.simple_tag(takes_context=True)
def session_documents_status(context, session) -> SafeString:
    request = context["request"]
    documents = status.session_documents(request.user, session.pk)
    return status.status_box(request, documents, scope="session", scope_id=session.pk)
