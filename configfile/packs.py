"""Ready-made configuration files shipped with Vigil, installed with their parameters.

The guides' alert pack (docs/examples/guides-pack.yaml) is one: the monitors, alert rules and
runbooks of the production monitoring guides, parameterised by the team's URLs. The set-up
checklist installs it through `install`, the command line through `import_config --set`; both
read the same file and apply it with configfile.sync.apply.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings

from configfile.source import declared_parameters, parse, read_text
from configfile.sync import Plan, apply

GUIDES_PACK = Path(settings.BASE_DIR) / "docs" / "examples" / "guides-pack.yaml"
# The tag every monitor of the pack carries, and the dashboards built from its monitors' tags.
PACK_TAG = "guides-pack"
DASHBOARDS = {
    "overview": "System overview",
    "requests": "Requests",
    "database": "Database",
    "operations": "Operations",
}


def pack_parameters(path: Path = GUIDES_PACK) -> dict[str, dict[str, Any]]:
    """The pack's parameters: name -> description, example, default."""
    return declared_parameters(read_text(str(path)), path.name)


def install(*, values: dict[str, str], by: Any, dry_run: bool, now: datetime | None = None, path: Path = GUIDES_PACK) -> Plan:
    """Apply the pack with these parameter values (ConfigError lists every problem, naming the parameter or line)."""
    config, source = parse(read_text(str(path)), filename=path.name, parameters=values)
    return apply(config, source, prune=False, dry_run=dry_run, by=by, now=now)
