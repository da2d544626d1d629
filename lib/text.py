"""Text a person typed (or a machine sent) that Vigil stores, publishes and mails.

What is refused, and why:

- NUL, the C0 control characters (U+0000-U+001F), DEL (U+007F) and the C1 controls
  (U+0080-U+009F): XML 1.0 (RSS, Atom) cannot carry most of them, so one of them in a
  title stopped every feed; PostgreSQL cannot store NUL; a terminal or a mail header
  reads them as commands. Multi-line text (Markdown messages, descriptions) keeps
  tab, line feed and carriage return; single-line text (titles, names) keeps none.
- Lone surrogates (U+D800-U+DFFF, reachable through JSON's \\ud800 escapes) and the
  noncharacters U+FFFE and U+FFFF: no UTF-8 encoder or XML document takes them.
- In single-line text only, the bidirectional embeddings, overrides and isolates
  (U+202A-U+202E, U+2066-U+2069): a title holding U+202E reads backwards from where it
  is placed ("Trojan Source"), so "Checkout is down" can be shown as something else in a
  feed, a mail subject or a list of incidents. Right-to-left scripts need none of them in
  a title (the Unicode bidirectional algorithm orders them); messages keep them, because
  a paragraph ends their effect and long right-to-left text may need them.

Pure: no Django. core.text wraps it in validators for models and forms.
"""

from __future__ import annotations

import re

LINE_BREAKS = "\t\n\r"
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"

_ALWAYS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff"
_MULTI_LINE = re.compile(f"[{_ALWAYS}]")
_SINGLE_LINE = re.compile(f"[{_ALWAYS}{LINE_BREAKS}{BIDI_CONTROLS}]")
_SPACES = re.compile(r"\s+")
_BREAKS = re.compile(r"[\t\r\n]+")


def _pattern(multiline: bool) -> re.Pattern[str]:
    return _MULTI_LINE if multiline else _SINGLE_LINE


def first_forbidden(value: str, *, multiline: bool) -> tuple[int, str] | None:
    """(position counted from 1, character) of the first character the text may not hold, or None."""
    found = _pattern(multiline).search(value)
    return (found.start() + 1, found.group()) if found else None


def _describe(character: str) -> str:
    if character in LINE_BREAKS:
        return "line break" if character != "\t" else "tab"
    if character in BIDI_CONTROLS:
        return "text direction control"
    if "\ud800" <= character <= "\udfff" or character in "\ufffe\uffff":
        return "invalid character"
    return "control character"


def problem(value: str, *, multiline: bool) -> str | None:
    """What to fix, in words a person acts on ("remove the control character U+000B at position 12"), or None."""
    found = first_forbidden(value, multiline=multiline)
    if found is None:
        return None
    position, character = found
    what = _describe(character)
    text = f"remove the {what} U+{ord(character):04X} at position {position}"
    if what in ("line break", "tab"):
        text += "; this field is one line"
    return text


def clean(value: str, *, multiline: bool) -> str:
    """The text without what it may not hold: for text Vigil takes from machines (an
    Alertmanager label, a checked server's error) where refusing would lose the alert.
    Single-line text has its line breaks and tabs turned into spaces."""
    if not multiline:
        value = _BREAKS.sub(" ", value)
    return _pattern(multiline).sub("", value)


def header_line(value: str, *, limit: int = 200) -> str:
    """One line fit for a mail header (a subject): no line breaks, no control or direction
    characters, runs of white space made one space, at most `limit` characters."""
    text = _SPACES.sub(" ", clean(value, multiline=False)).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
