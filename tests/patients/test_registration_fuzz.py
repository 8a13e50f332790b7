"""Whatever text arrives in whichever registration field, the answer is a page or a saved patient: never a 500."""

from django.db import transaction
from django.urls import resolve, reverse
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from patients.forms import RegisterPatientForm
from patients.models import Patient
from tests.patients.test_registration import NEW_PATIENT

FIELDS = sorted(RegisterPatientForm.base_fields)
# Text the generic strategy seldom produces but which has broken forms before.
TRICKY = [
    "\x00",
    "Erin\x00",
    "   ",
    "\u202eniré",  # right-to-left override
    "ﬁ\u0301ß" * 30,  # grows when normalised or upper-cased
    "p\u0131t-1",  # dotless i upper-cases to ASCII
    "\uff12\uff10\uff12\uff10-\uff10\uff11-\uff10\uff11",  # full-width digits
    "0001-01-01",
    "9999-12-31",
    "2023-02-29",
    "+44 7911 123456\x00",
    "+" + "9" * 300,
    "a@b",
    "x" * 10_000,
    '<script>alert("x")</script>',
    "'; DROP TABLE patients_patient; --",
    "on",
    "False",
]
ANY_TEXT = st.one_of(st.text(), st.sampled_from(TRICKY))


# Half the examples change a few fields of otherwise valid details, so that some reach the save;
# the other half are arbitrary text in every field.
SUBMISSIONS = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), ANY_TEXT, min_size=1, max_size=4).map(
        lambda changes: NEW_PATIENT | changes
    ),
    st.fixed_dictionaries(dict.fromkeys(FIELDS, ANY_TEXT)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=SUBMISSIONS)
def test_arbitrary_text_in_registration_fields_never_causes_a_server_error(front_desk_client, data):
    # Each example is rolled back, so one example's patient never becomes the next one's duplicate.
    with transaction.atomic():
        response = front_desk_client.post(reverse("patients:register"), data)
        assert response.status_code in (200, 302)
        event(f"answered {response.status_code}")
        if response.status_code == 302:
            match = resolve(response["Location"])
            assert match.view_name == "patients:intake"
            assert Patient.objects.filter(pk=match.kwargs["pk"]).exists()
        else:
            assert response.context["form"].errors or response.context["duplicates"]
        transaction.set_rollback(True)
