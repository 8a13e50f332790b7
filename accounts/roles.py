"""What each role may do, as Django permissions on the role's group.

Groups are synchronised after every `migrate` (see AccountsConfig.ready), so a
permission added here reaches existing installations without a data migration.
"""

from functools import lru_cache

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission

from accounts.models import Role

PATIENT_RECORD = [
    "patients.view_patient",
    "patients.add_patient",
    "patients.change_patient",
    "patients.view_intake",
    "patients.change_intake",
    "patients.view_patientconsent",
    "patients.add_patientconsent",
]

CLINICAL_RECORD = [
    "assessments.view_assessment",
    "assessments.add_assessment",
    "treatments.view_treatmentcourse",
    "treatments.add_treatmentcourse",
    "treatments.change_treatmentcourse",
    "treatments.view_injectionsession",
    "treatments.add_injectionsession",
    "treatments.change_injectionsession",
    "treatments.sign_injectionsession",
    "treatments.add_sessionaddendum",
    "documents.view_document",
    "documents.change_document",
    "audit.view_history",
    "treatments.recall_lot",
]

INVITES = ["portal.add_patientinvite", "portal.view_patientinvite"]

# Adverse events followed up (safety): clinicians update a follow-up; the log and its rates are read by managers too.
SAFETY_LOG = ["safety.view_adverseeventfollowup"]
SAFETY_FOLLOW_UP = [*SAFETY_LOG, "safety.change_adverseeventfollowup"]
# Aggregate figures only: no patient is named in the outcomes report.
OUTCOMES_REPORT = ["outcomes.view_outcomes_report"]

SCHEDULING = [
    "scheduling.view_appointment",
    "scheduling.add_appointment",
    "scheduling.change_appointment",
]

ROLE_PERMISSIONS: dict[Role, list[str]] = {
    Role.CLINICIAN: PATIENT_RECORD + CLINICAL_RECORD + SCHEDULING + INVITES + SAFETY_FOLLOW_UP + OUTCOMES_REPORT,
    # The front desk sees that courses and sessions exist (dates, status), never their content.
    Role.FRONT_DESK: [*PATIENT_RECORD, *SCHEDULING, *INVITES, "treatments.view_treatmentcourse"],
    Role.MANAGER: [
        "patients.view_patient",
        "patients.view_intake",
        "patients.view_patientconsent",
        "patients.view_consenttext",
        "patients.add_consenttext",
        "patients.change_consenttext",
        "patients.view_condition",
        "patients.add_condition",
        "patients.change_condition",
        # Requests about data (erasure, restriction): recorded, decided and carried out by a manager.
        "patients.manage_data_requests",
        "documents.view_aftercaretext",
        "documents.add_aftercaretext",
        "documents.change_aftercaretext",
        "assessments.view_nerve",
        "assessments.add_nerve",
        "assessments.change_nerve",
        "outcomes.view_measureschedule",
        "outcomes.add_measureschedule",
        "outcomes.change_measureschedule",
        *SCHEDULING,
        "scheduling.override_working_hours",
        "scheduling.view_appointmenttype",
        "scheduling.add_appointmenttype",
        "scheduling.change_appointmenttype",
        "scheduling.view_workinghours",
        "scheduling.add_workinghours",
        "scheduling.change_workinghours",
        "scheduling.delete_workinghours",
        "scheduling.view_timeoff",
        "scheduling.add_timeoff",
        "scheduling.change_timeoff",
        "scheduling.delete_timeoff",
        "accounts.view_user",
        "accounts.add_user",
        "accounts.change_user",
        "auth.view_group",
        "accounts.manage_account_security",
        "audit.view_auditevent",
        "audit.export_auditevent",
        "audit.view_history",
        "treatments.recall_lot",
        # The de-identified registry export (outcomes.registry): ask for one, follow it, download it.
        "outcomes.view_registryexport",
        "outcomes.add_registryexport",
        # The clinic-wide FHIR bulk export (interop.bulk): ask for one, follow it, download its files.
        "interop.view_bulkexport",
        "interop.add_bulkexport",
        # Moving in from another practice system (imports): upload a CSV, preview it, import it, read the report.
        "imports.view_csvimport",
        "imports.add_csvimport",
        *SAFETY_LOG,
        *OUTCOMES_REPORT,
    ],
    # Patients see only their own portal pages, which check ownership themselves.
    Role.PATIENT: ["portal.use_portal"],
}


def permissions_of_roles(roles: frozenset[str]) -> frozenset[str]:
    """Every permission the named roles give, as ROLE_PERMISSIONS lists them (names that are no role give none)."""
    return frozenset(label for name in roles if name in Role.values for label in ROLE_PERMISSIONS[Role(name)])


def _permission(label: str) -> Permission:
    app_label, codename = label.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def sync_roles(**kwargs) -> None:
    """Create each role's group and give it exactly the permissions listed above."""
    # post_migrate reaches apps one by one; make sure every app's permissions exist
    # before they are assigned, whatever the order.
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0)
    for role, labels in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role.value)
        group.permissions.set([_permission(label) for label in labels])
    role_group_id.cache_clear()  # a flushed database's groups are made anew, with new ids


@lru_cache
def role_group_id(role: Role) -> int:
    """The id of the role's group. Groups are reference data that only sync_roles makes (and it forgets what was
    read here), so each process reads an id once."""
    return Group.objects.values_list("pk", flat=True).get(name=role.value)
