"""Input field types shared by the API's schemas: bounded so bad input is a 422, never a 500."""

from typing import Annotated

from pydantic import AfterValidator, Field


def _no_nul(value: str) -> str:
    # (None passes: the PATCH twin of a schema makes every field optional, keeping this check.)
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain the NUL character")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
# PostgreSQL integer columns end at 2^31-1; bounds here keep huge numbers a field error.
Count = Annotated[int, Field(ge=0, le=2_147_483_647)]
Id = Annotated[int, Field(ge=1, le=2_147_483_647)]
Seconds = Annotated[int, Field(ge=0, le=365 * 86400)]
