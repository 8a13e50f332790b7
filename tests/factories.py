from datetime import date

import factory
from django.contrib.auth.models import Group
from django.utils import timezone

from accounts.models import Role, User
from patients.models import ConsentText, Intake, Patient

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def role(user, create, extracted: Role | None, **kwargs):
        if extracted:
            user.groups.add(Group.objects.get(name=extracted.value))
        if create:
            user.save()


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient
        skip_postgeneration_save = True

    clinic_number = factory.Sequence(lambda n: f"T-{n:05d}")
    given_name = factory.Faker("first_name")
    family_name = factory.Faker("last_name")
    date_of_birth = factory.Faker("date_between", start_date=date(1930, 1, 1), end_date=date(2005, 12, 31))
    sex = "female"
    phone = factory.Sequence(lambda n: f"+4479111{n:05d}")
    email = factory.Sequence(lambda n: f"patient{n}@example.org")
    intake = factory.RelatedFactory("tests.factories.IntakeFactory", factory_related_name="patient")


class IntakeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Intake

    patient = factory.SubFactory(PatientFactory, intake=None)


class ConsentTextFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConsentText

    version = factory.Sequence(lambda n: n + 2)  # version 1 comes from the data migration
    title = "Consent to PIT"
    body = "Risks: infection, pain or bruising at the injection site, allergic reaction."
    published_at = factory.LazyFunction(timezone.now)
