"""manage.py import_config vigil.yaml [--dry-run] [--prune]: make the database say what the file says."""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from configfile import sync
from configfile.source import ConfigError, parse, read_text


class Command(BaseCommand):
    help = "Create and update what vigil.yaml describes (and with --prune delete what it does not). All or nothing."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", help="The YAML file (docs/config-as-code.md); - reads standard input.")
        parser.add_argument("--dry-run", action="store_true", help="Print the plan and check everything; change nothing.")
        parser.add_argument("--prune", action="store_true", help="Delete objects of the file's kinds that the file does not name.")
        parser.add_argument("--set", dest="parameters", action="append", default=[], metavar="NAME=VALUE",
                            help="A value for the file's ${NAME} placeholders (its parameters: section); repeat for each.")
        parser.add_argument("--as", dest="username", default=None, help="The user the audit log names (default: system).")

    def handle(self, *args: Any, file: str, dry_run: bool, prune: bool, username: str | None, parameters: list[str],
               **options: Any) -> None:
        import sys

        values: dict[str, str] = {}
        for assignment in parameters:
            name, equals, value = assignment.partition("=")
            if not equals or not name.strip():
                raise CommandError(f"--set {assignment!r}: write NAME=VALUE, e.g. --set APP_URL=https://api.example.com")
            values[name.strip()] = value

        try:
            text = read_text(file, sys.stdin if file == "-" else None)
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from None
        except ConfigError as error:
            raise CommandError(error.problems[0]) from None
        by = None
        if username:
            by = get_user_model().objects.filter(username=username).first()
            if by is None:
                raise CommandError(f"--as: there is no user named {username!r}")
        try:
            config, source = parse(text, filename="<stdin>" if file == "-" else file, parameters=values)
            result = sync.apply(config, source, prune=prune, dry_run=dry_run, by=by)
        except ConfigError as error:
            for problem in error.problems:
                self.stderr.write(problem)
            raise CommandError(f"{len(error.problems)} problem(s) in {file}; nothing was changed.") from None
        self.stdout.write(result.render())
        if dry_run:
            self.stdout.write("Dry run: nothing was changed.")
        elif result.changes:
            self.stdout.write(self.style.SUCCESS(f"Applied {len(result.changes)} change(s)."))
        else:
            self.stdout.write("Nothing to change.")
