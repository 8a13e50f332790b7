"""`{% session_documents_status session %}` and `{% patient_documents_status patient %}`: the documents box,
rendered in the page and refreshed by htmx polling while any document is being prepared."""

from django import template

from documents import status

register = template.Library()


@register.inclusion_tag("documents/_status.html", takes_context=True)
def session_documents_status(context, session) -> dict:
    user = context["request"].user
    documents = status.session_documents(user, session.pk)
    return status.status_context(
        user, documents, scope="session", scope_id=session.pk, csrf_token=context.get("csrf_token")
    )


@register.inclusion_tag("documents/_status.html", takes_context=True)
def patient_documents_status(context, patient) -> dict:
    user = context["request"].user
    documents = status.patient_documents(user, patient.pk)
    return status.status_context(
        user, documents, scope="patient", scope_id=patient.pk, csrf_token=context.get("csrf_token")
    )
