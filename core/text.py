"""Validators for text fields: the rules of lib.text for models and forms.

A model field declares one of these in `validators=[...]`; every writer runs them through
`full_clean()` (console forms, the ops API, config import, the admin), and each reports
the error on its field ("title: remove the control character U+000B at position 12").
Plain forms add the same validator to their fields so the error shows next to the field.
Text from machines (Alertmanager, a checked server's error) goes through lib.text.clean
instead: refusing it would lose the alert.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible

from lib import text


@deconstructible
class PlainText:
    """Refuses control characters (and, on one line, line breaks and direction overrides)."""

    def __init__(self, *, multiline: bool = False) -> None:
        self.multiline = multiline

    def __call__(self, value: object) -> None:
        if not isinstance(value, str):
            return
        problem = text.problem(value, multiline=self.multiline)
        if problem:
            raise ValidationError(problem, code="control_character")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PlainText) and other.multiline == self.multiline

    def __hash__(self) -> int:
        return hash(self.multiline)


single_line = PlainText(multiline=False)
multi_line = PlainText(multiline=True)
