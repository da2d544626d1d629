"""Markdown from users (incident updates, postmortems) to safe HTML.

Markdown passes raw HTML through, so the result is always sanitized with nh3
(Ammonia): only formatting tags survive, links get rel=noopener and only
http/https/mailto URLs; scripts, event handlers and style attributes never do.
"""

from __future__ import annotations

import markdown
import nh3

from lib import text as plain_text

ALLOWED_TAGS = {"p", "a", "strong", "em", "code", "pre", "ul", "ol", "li", "blockquote", "br", "h3", "h4", "hr", "del"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}


def render(text: str) -> str:
    html = markdown.markdown(text or "", extensions=["fenced_code", "sane_lists", "nl2br"], output_format="html")
    safe = nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes={"http", "https", "mailto"},
                     link_rel="noopener noreferrer nofollow")
    # nh3 decodes character references: "&#11;" in a message becomes a real U+000B here,
    # which no XML feed can carry. Drop what lib.text refuses in typed text too.
    return plain_text.clean(safe, multiline=True)
