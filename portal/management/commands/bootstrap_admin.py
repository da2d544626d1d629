from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from core.roles import ADMIN
from core.services import assign_role


class Command(BaseCommand):
    help = "Create the first admin user (once). The password comes from VIGIL_ADMIN_PASSWORD or is printed once."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--email", default="admin@localhost")

    def handle(self, *args: Any, username: str, email: str, **options: Any) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("An admin user exists already; nothing to do.")
            return
        password = settings.VIGIL_ADMIN_PASSWORD
        printed = not password
        if printed:
            password = secrets.token_urlsafe(15)
        user = User(username=username, email=email, is_staff=True, is_superuser=True)
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise CommandError(f"VIGIL_ADMIN_PASSWORD is too weak: {' '.join(exc.messages)} Choose a longer one.") from None
        user.set_password(password)
        user.save()
        assign_role(user=user, role=ADMIN)
        self.stdout.write(self.style.SUCCESS(f"Created admin user {username!r}."))
        if printed:
            self.stdout.write("")
            self.stdout.write(self.style.WARNING("  Admin password (shown once, store it now):"))
            self.stdout.write(f"      {password}")
            self.stdout.write("")
        else:
            self.stdout.write("Its password is the value of VIGIL_ADMIN_PASSWORD.")
