"""A monitor's limits, declared once: the model's clean(), the admin form, the API schema and the
config file's schema (and so the OpenAPI document and docs/vigil-config.schema.json) all read them.

A Bound is pydantic metadata too: `Annotated[int, INTERVAL]` gets minimum/maximum in its JSON
Schema and, when a value is outside them, the same message the model gives, so the admin, the
API and config import say the same thing: "interval must be between 5s and 1d (got 2s)".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import annotated_types
from pydantic import AfterValidator, ValidationError, WrapValidator
from pydantic_core import PydanticCustomError

from lib.cron_schedule import schedule_problem, time_zone_problem
from lib.durations import format_duration, parse_duration

NAME_MAX_LENGTH = 120
TARGET_MAX_LENGTH = 2048
HEARTBEAT_SCHEDULE_MAX_LENGTH = 100

_RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


@dataclass(frozen=True)
class Bound(annotated_types.GroupedMetadata):
    field: str  # the Monitor field
    label: str  # what a person calls it
    minimum: float
    maximum: float
    seconds: bool = False  # a duration: shown as 30s, 5m, 1d
    above_minimum: bool = False  # the minimum itself is not allowed (a timeout of 0 s)

    def show(self, value: float) -> str:
        if not self.seconds:
            return f"{value:g}"
        text = format_duration(value)
        return text if parse_duration(text) == value else f"{value:g}s"  # 1d1h stands for 90061 s: say that

    def problem(self, value: float | None) -> str | None:
        """What is wrong with value, or None when it is within bounds."""
        if value is None:
            return None
        too_low = value <= self.minimum if self.above_minimum else value < self.minimum
        if not too_low and value <= self.maximum:
            return None
        return f"{self.label} must be {self.allowed()} (got {self.show(value)})"

    def allowed(self) -> str:
        """The range in words: "between 5s and 1d"."""
        if self.above_minimum:
            return f"above {self.show(self.minimum)} and at most {self.show(self.maximum)}"
        return f"between {self.show(self.minimum)} and {self.show(self.maximum)}"

    # pydantic: the constraints (they make the JSON Schema) and the message when they fail.
    def __iter__(self) -> Iterator[Any]:
        yield annotated_types.Gt(self.minimum) if self.above_minimum else annotated_types.Ge(self.minimum)
        yield annotated_types.Le(self.maximum)
        yield WrapValidator(self._explain)

    def _explain(self, value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            if not all(error["type"] in _RANGE_ERRORS for error in exc.errors()):
                raise
            raise PydanticCustomError("out_of_bounds", self.problem(self._number(value)) or str(exc)) from None

    def _number(self, value: Any) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        return parse_duration(value) if self.seconds else float(value)

    def json_schema(self) -> dict[str, float]:
        low = "exclusiveMinimum" if self.above_minimum else "minimum"
        return {low: self.minimum, "maximum": self.maximum}


DAY = 86400
INTERVAL = Bound("interval_seconds", "interval", 5, DAY, seconds=True)
TIMEOUT = Bound("timeout_seconds", "timeout", 0, 3600, seconds=True, above_minimum=True)
RETRIES = Bound("retries", "retries", 0, 20)
RETRY_INTERVAL = Bound("retry_interval_seconds", "retry interval", 1, DAY, seconds=True)
RECOVERY_CONFIRMATIONS = Bound("recovery_confirmations", "recovery confirmations", 1, 20)
QUORUM = Bound("quorum", "quorum", 0, 100)
HEARTBEAT_PERIOD = Bound("heartbeat_period_seconds", "heartbeat period", 1, 366 * DAY, seconds=True)
HEARTBEAT_GRACE = Bound("heartbeat_grace_seconds", "heartbeat grace", 0, 366 * DAY, seconds=True)

# A failed check is confirmed after this long, or after the interval when that is shorter: the
# default must never be refused by the rule that a retry comes no later than the next check.
DEFAULT_RETRY_INTERVAL = 20


def default_retry_interval(interval_seconds: float) -> int:
    """The retry interval of a monitor that does not set one: 20s, or its interval when shorter."""
    return max(int(RETRY_INTERVAL.minimum), int(min(DEFAULT_RETRY_INTERVAL, interval_seconds)))


RETRY_INTERVAL_DEFAULT_TEXT = f"Default: {DEFAULT_RETRY_INTERVAL}s, or the interval when that is shorter."

BOUNDS = (INTERVAL, TIMEOUT, RETRIES, RETRY_INTERVAL, RECOVERY_CONFIRMATIONS, QUORUM, HEARTBEAT_PERIOD, HEARTBEAT_GRACE)


# A heartbeat's cron schedule and its time zone: the same check and message in the model, the API
# and the config file ("heartbeat schedule: '61 * * * *' is not a valid cron expression (minute 61 out of range): ...").
def _valid_schedule(value: str) -> str:
    problem = schedule_problem(value) if value else None
    if problem:
        raise PydanticCustomError("cron_schedule", "heartbeat schedule: {problem}", {"problem": problem})
    return value


def _valid_time_zone(value: str) -> str:
    problem = time_zone_problem(value)
    if problem:
        raise PydanticCustomError("time_zone", "heartbeat time zone: {problem}", {"problem": problem})
    return value


HeartbeatSchedule = Annotated[str, annotated_types.MaxLen(HEARTBEAT_SCHEDULE_MAX_LENGTH), AfterValidator(_valid_schedule)]
HeartbeatTimeZone = Annotated[str, annotated_types.MaxLen(64), AfterValidator(_valid_time_zone)]
