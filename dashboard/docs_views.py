"""The operator docs Vigil ships (docs/*.md), served at /docs/ so a link never leaves the
installation. Anyone may read them: they are the same files as in the source."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import markdown
import nh3
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

DOC_TAGS = {"p", "a", "strong", "em", "code", "pre", "ul", "ol", "li", "blockquote", "br", "hr", "del",
            "h1", "h2", "h3", "h4", "table", "thead", "tbody", "tr", "th", "td"}
_DOC_LINK = re.compile(r'href="([a-z0-9-]+)\.md(#[^"]*)?"')


def docs_dir() -> Path:
    return Path(settings.BASE_DIR) / "docs"


def available() -> dict[str, str]:
    """{name: title} of every shipped doc; only these names are ever read (no path from the URL reaches the disk)."""
    found = {}
    for path in sorted(docs_dir().glob("*.md")):
        first = path.read_text(encoding="utf-8").lstrip().splitlines()[:1]
        found[path.stem] = first[0].lstrip("# ").strip() if first else path.stem
    return found


@lru_cache(maxsize=64)
def _rendered(name: str, mtime: float) -> str:
    text = (docs_dir() / f"{name}.md").read_text(encoding="utf-8")
    html = markdown.markdown(text, extensions=["tables", "fenced_code", "sane_lists"], output_format="html")
    html = _DOC_LINK.sub(lambda m: f'href="/docs/{m.group(1)}/{m.group(2) or ""}"', html)
    return nh3.clean(html, tags=DOC_TAGS, attributes={"a": {"href", "title"}}, url_schemes={"http", "https", "mailto"},
                     link_rel="noopener noreferrer")


def docs_index(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/docs.html", {"docs": available(), "body": None})


def docs_page(request: HttpRequest, name: str) -> HttpResponse:
    docs = available()
    if name not in docs:
        raise Http404(f"There is no doc named {name!r}; /docs/ lists them.")
    body = _rendered(name, (docs_dir() / f"{name}.md").stat().st_mtime)
    return render(request, "dashboard/docs.html", {"docs": docs, "body": body, "current": name, "title": docs[name]})
