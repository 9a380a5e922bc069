import factory
from allauth.account.models import EmailAddress

from apps.accounts.models import User


class UserFactory(factory.django.DjangoModelFactory):
    """A user whose address is confirmed (pass email_verified=False for one who never opened the link)."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery-staple")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()

    @factory.post_generation
    def email_verified(obj, create, extracted, **kwargs):
        if create:
            EmailAddress.objects.create(user=obj, email=obj.email, primary=True, verified=extracted is not False)
