"""manage.py export_config [FILE] [--schema]: the database as vigil.yaml (or the file's JSON Schema)."""

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from configfile import sync
from configfile.schema import SECTIONS, json_schema
from configfile.source import ConfigError
from core.secrets import SECRET_MASK


class Command(BaseCommand):
    help = "Write components, monitors, status pages, channels, escalation, alert rules and SLOs as YAML (stdout without FILE)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", nargs="?", default="-", help="Where to write; - (the default) is standard output.")
        parser.add_argument("--schema", action="store_true", help="Write the file format's JSON Schema instead (for editor completion).")

    def handle(self, *args: Any, file: str, schema: bool, **options: Any) -> None:
        try:
            config = None if schema else sync.export()
        except ConfigError as error:
            for problem in error.problems:
                self.stderr.write(problem)
            raise CommandError(f"{len(error.problems)} stored value(s) are outside today's limits; nothing was written.") from None
        text = json.dumps(json_schema(), indent=2) + "\n" if config is None else sync.dump(config)
        if file == "-":
            self.stdout.write(text, ending="")
            return
        Path(file).write_text(text, encoding="utf-8")
        if config is not None:
            counts = ", ".join(f"{len(getattr(config, section))} {section.replace('_', ' ')}" for section in SECTIONS)
            self.stderr.write(f"Wrote {file}: {counts}.")
            masked = text.count(SECRET_MASK)
            if masked:
                self.stderr.write(f"{masked} secret(s) stored in the database are written masked (********); importing keeps the "
                                  "stored value. Move them to env:NAME references to make the file complete.")
