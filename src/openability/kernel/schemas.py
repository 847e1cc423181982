"""The one JSON shape convention of the management API, shared by every domain so that behaviour is
identical everywhere: camelCase field names on the wire, snake_case names still accepted on input
(one release of grace for older clients), unknown fields refused (a typo must not pass silently)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
    )
