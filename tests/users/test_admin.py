import pytest
from django.test import Client

from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_for_operator():
    operator = User.objects.create_superuser("Operator@Example.com", "an-operator-secret-1")
    client = Client()
    client.force_login(operator)
    return client


def test_superuser_email_is_normalised():
    operator = User.objects.create_superuser("Boss@Example.COM", "an-operator-secret-1")

    assert operator.email == "boss@example.com"
    assert operator.is_staff and operator.is_superuser
    assert User.objects.get_by_natural_key("BOSS@example.com") == operator


def test_operator_lists_and_adds_users(admin_client_for_operator):
    listing = admin_client_for_operator.get("/admin/users/user/?q=operator")
    assert listing.status_code == 200
    assert b"operator@example.com" in listing.content

    response = admin_client_for_operator.post(
        "/admin/users/user/add/",
        {
            "email": "New.Person@Example.com",
            "password1": "a-strong-passphrase-9",
            "password2": "a-strong-passphrase-9",
        },
    )

    assert response.status_code == 302
    created = User.objects.get(email="new.person@example.com")
    assert created.check_password("a-strong-passphrase-9")
