"""Input field types shared by the API's schemas: bounded so bad input is a 422, never a 500."""

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, Strict


def _no_nul(value: str) -> str:
    # (None passes: the PATCH twin of a schema makes every field optional, keeping this check.)
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain the NUL character")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]


def _not_a_flag(value: Any) -> Any:
    # pydantic reads true as 1; the document says integer.
    if isinstance(value, bool):
        raise ValueError("must be an integer, not true or false")
    return value


# PostgreSQL integer columns end at 2^31-1; bounds here keep huge numbers a field error.
# (Field before the validator: the other way round the document says "ge"/"le", which JSON Schema ignores.)
Count = Annotated[int, Field(ge=0, le=2_147_483_647), BeforeValidator(_not_a_flag)]
Id = Annotated[int, Field(ge=1, le=2_147_483_647), BeforeValidator(_not_a_flag)]
Seconds = Annotated[int, Field(ge=0, le=365 * 86400), BeforeValidator(_not_a_flag)]

# JSON true or false only: the document says boolean, so 0, 1 or "yes" are a field error, not a guess.
Flag = Annotated[bool, Strict()]


def _date_time_text(value: Any) -> Any:
    # pydantic would read a number (or a numeric query string) as seconds since 1970; the document says ISO 8601.
    if isinstance(value, int | float) or (isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+(\.\d*)?\s*", value)):
        raise ValueError("must be an ISO 8601 date and time, e.g. 2026-01-31T09:00:00Z")
    return value


def _in_utc(value: datetime) -> datetime:
    # Any offset Python reads (up to +-23:59) is stored as UTC: PostgreSQL refuses offsets past +-15:59.
    if value.tzinfo is None:
        return value
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range: give a date and time between years 1 and 9999") from None


Moment = Annotated[datetime, BeforeValidator(_date_time_text), AfterValidator(_in_utc)]
