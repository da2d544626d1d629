"""The sign-in form and what django-axes records of each attempt."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxLengthValidator
from django.http import HttpRequest

# What axes stores of a failed attempt's username (its column holds 255 characters).
RECORDED_USERNAME_LENGTH = 150


class LoginForm(AuthenticationForm):
    """Django's form sets the username's max_length after the field is built, so the length
    is never validated; a 20,000-character "username" would reach authenticate() (and the
    lockout log). Here it is a field error like any other."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["username"]
        field.validators.append(MaxLengthValidator(field.max_length or RECORDED_USERNAME_LENGTH))


def axes_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """The attempted username, cut to what the lockout log can store (lockouts still match on it)."""
    source = credentials if credentials else getattr(request, "POST", {})
    return str(source.get("username") or "")[:RECORDED_USERNAME_LENGTH]
