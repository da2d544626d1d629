"""import_config refuses hostile files fast and by name: too big (before parsing), too many alias
expansions (billion laughs), too deep (no RecursionError)."""

from __future__ import annotations

import io
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from monitors.models import Monitor

pytestmark = pytest.mark.django_db

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
monitors: *i
"""


def import_file(tmp_path, text: str) -> str:
    path = tmp_path / "vigil.yaml"
    path.write_text(text)
    err = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("import_config", str(path), stdout=io.StringIO(), stderr=err)
    return f"{err.getvalue()}\n{raised.value}"


def test_billion_laughs_is_refused_fast_naming_the_limit(tmp_path):
    started = time.monotonic()
    said = import_file(tmp_path, BILLION_LAUGHS)
    assert time.monotonic() - started < 2
    assert "vigil.yaml: 102,908,557 aliases expanded; the limit is 1,000 (VIGIL_CONFIG_MAX_ALIASES)" in said
    assert not Monitor.objects.exists()


def test_a_few_aliases_are_still_fine(tmp_path):
    path = tmp_path / "vigil.yaml"
    path.write_text("monitors:\n  - &web {name: web, kind: tcp, target: 'h:1', interval: 60s}\n"
                    "  - {<<: *web, name: web2}\n")
    call_command("import_config", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    assert sorted(Monitor.objects.values_list("name", flat=True)) == ["web", "web2"]


@pytest.mark.parametrize("text", [
    "monitors: " + "[" * 10_000 + "]" * 10_000 + "\n",
    "monitors:\n" + "".join("  " * depth + "- \n" for depth in range(1, 1500)),
], ids=["flow", "block"])
def test_deep_nesting_is_refused_naming_the_limit_without_recursion_error(tmp_path, text):
    said = import_file(tmp_path, text)
    assert "nested more than 64 levels deep; the limit is 64 (VIGIL_CONFIG_MAX_DEPTH)" in said
    assert "RecursionError" not in said


def test_aliases_cannot_nest_deeper_than_the_limit(tmp_path):
    level = "a0: &a0 [x]\n" + "".join(f"a{n}: &a{n} [[[[[[[[[[*a{n - 1}]]]]]]]]]]\n" for n in range(1, 10))
    said = import_file(tmp_path, level)
    assert "nested 93 levels deep once aliases are expanded; the limit is 64 (VIGIL_CONFIG_MAX_DEPTH)" in said


def test_an_oversized_file_is_refused_before_parsing(tmp_path, settings):
    settings.VIGIL_CONFIG_MAX_BYTES = 10_000
    # Not even valid YAML: the size is refused before any parser reads it.
    said = import_file(tmp_path, "monitors: [\n" + "x" * 20_000)
    assert "larger than 10,000 bytes; the limit is 10,000 bytes (VIGIL_CONFIG_MAX_BYTES)" in said
    assert "not valid YAML" not in said


def test_an_alias_to_its_own_anchor_is_refused(tmp_path):
    said = import_file(tmp_path, "monitors: &loop [*loop]\n")
    assert "an alias refers to a collection that contains it" in said
