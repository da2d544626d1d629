"""Users in the admin: the admin role manages people, but only a superuser makes or touches a superuser."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User

pytestmark = pytest.mark.django_db


def change_form(user: User, **overrides: object) -> dict[str, object]:
    """What the admin's change form posts for this user, with some fields changed."""
    data: dict[str, object] = {
        "username": user.username, "first_name": "", "last_name": "", "email": "", "is_active": "on", "is_staff": "on",
        "groups": [str(pk) for pk in user.groups.values_list("pk", flat=True)],
        "last_login_0": "", "last_login_1": "", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def colleague(django_user_model):  # type: ignore[no-untyped-def]
    from tests.conftest import role_user

    return role_user(django_user_model, "cleo-colleague", "viewer")


def test_an_admin_role_user_cannot_make_anyone_a_superuser(client, admin_user, colleague):
    client.force_login(admin_user)
    form = client.get(f"/admin/auth/user/{colleague.pk}/change/").content.decode()
    assert 'name="is_superuser"' not in form  # shown read-only, not as a checkbox
    everything = [str(pk) for pk in Permission.objects.values_list("pk", flat=True)]
    for target in (colleague, admin_user):
        response = client.post(f"/admin/auth/user/{target.pk}/change/",
                               change_form(target, is_superuser="on", user_permissions=everything))
        assert response.status_code == 302, response.content.decode()[:2000]
        target.refresh_from_db()
        assert not target.is_superuser and not target.user_permissions.exists()


def test_an_admin_role_user_can_still_manage_other_people(client, admin_user, colleague):
    client.force_login(admin_user)
    responder = Group.objects.get(name="responder")
    response = client.post(f"/admin/auth/user/{colleague.pk}/change/", change_form(colleague, groups=[str(responder.pk)], email="c@example.com"))
    assert response.status_code == 302
    colleague.refresh_from_db()
    assert list(colleague.groups.values_list("name", flat=True)) == ["responder"] and colleague.email == "c@example.com"


def test_an_admin_role_user_cannot_change_or_delete_a_superuser(client, admin_user, django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "a-long-root-password")
    client.force_login(admin_user)
    refused = client.post(f"/admin/auth/user/{root.pk}/change/", change_form(root, username="root", is_active=None))
    assert refused.status_code == 403
    password = client.post(f"/admin/auth/user/{root.pk}/password/", {"password1": "taken-over-9876", "password2": "taken-over-9876",
                                                                     "usable_password": "true"})
    assert password.status_code == 403
    assert client.post(f"/admin/auth/user/{root.pk}/delete/", {"post": "yes"}).status_code == 403
    client.post("/admin/auth/user/", {"action": "delete_selected", "_selected_action": [str(root.pk)], "post": "yes"})
    root.refresh_from_db()
    assert root.is_active and root.check_password("a-long-root-password")


def test_a_superuser_still_grants_superuser(client, django_user_model, colleague):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "a-long-root-password")
    client.force_login(root)
    response = client.post(f"/admin/auth/user/{colleague.pk}/change/", change_form(colleague, is_superuser="on"))
    assert response.status_code == 302
    colleague.refresh_from_db()
    assert colleague.is_superuser
