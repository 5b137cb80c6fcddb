"""How values are written in JSON, once for every answer: the API's records and models, and
the webhook payloads.

Moments are ISO 8601 in UTC with a `Z`, dates and times of day ISO 8601, decimals strings (no
float rounding), bytes base64, enums their value. The resource API's pages are written by
orjson with `JSON_OPTIONS`, which writes moments natively exactly as `iso_datetime` does (a
test holds them together); everything else calls `iso_datetime` and `json_default`.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import enum
from typing import Annotated, Any, Literal, TypeVar

import orjson
from pydantic import Field, PlainSerializer, WithJsonSchema
from pydantic.json_schema import SkipJsonSchema

#: orjson's own datetime writing, made to match `iso_datetime`: UTC as `Z`, naive as UTC.
JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def iso_datetime(moment: dt.datetime, *, timespec: Literal["auto", "milliseconds"] = "auto") -> str:
    """A moment as ISO 8601 in UTC ending in `Z`; `auto` keeps microseconds when there are any."""
    # Naive values are UTC throughout (UTCDateTime), never the machine's local time.
    utc = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
    return utc.isoformat(timespec=timespec).replace("+00:00", "Z")


def json_default(value: object) -> Any:
    """The JSON value of what a JSON writer does not know itself (orjson or the stdlib's)."""
    # Decimals and bytes first: they are what orjson asks about, a thousand times a page.
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dt.datetime):
        return iso_datetime(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON")


def dumps(value: object) -> bytes:
    """`value` as JSON bytes, in this module's encoding, written by orjson."""
    return orjson.dumps(value, default=json_default, option=JSON_OPTIONS)


#: A moment in a pydantic model: written as `iso_datetime` writes it, documented as date-time.
Moment = Annotated[
    dt.datetime,
    PlainSerializer(iso_datetime, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]

#: A moment written to the millisecond, fixed width (webhook bodies: receivers may parse strictly).
MillisecondMoment = Annotated[
    dt.datetime,
    PlainSerializer(lambda moment: iso_datetime(moment, timespec="milliseconds"), return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def _is_none(value: object) -> bool:
    return value is None


def _without_default(schema: dict[str, Any]) -> None:
    # A default of null would contradict the type: the field is absent instead.
    schema.pop("default", None)


_T = TypeVar("_T")

#: A field of a pydantic model that is left out when it has no value (absent, never null), and
#: documented as such: `error_uri: Omissible[str] = None`.
Omissible = Annotated[
    _T | SkipJsonSchema[None], Field(exclude_if=_is_none, json_schema_extra=_without_default)
]
