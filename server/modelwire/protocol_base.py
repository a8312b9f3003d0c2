"""The base of every wire model: camelCase aliases, strict params, visible-text strings.

Shared by the `protocol_*` modules; import the models through `modelwire.protocol`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from modelwire.invisible import has_hidden


def _visible(value: str) -> str:
    if has_hidden(value):
        raise ValueError("must not contain control, bidi or zero-width characters")
    return value


# An id, name or URI that is stored and shown again (run records, `modelwire runs`): an
# escape, NUL or newline in it would forge rows and terminal output later (issue 15).
Visible = Annotated[str, AfterValidator(_visible)]


class WireModel(BaseModel):
    """Base for everything on the wire: camelCase aliases, snake_case attributes."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=False,
    )

    def wire(self) -> dict[str, Any]:
        """The JSON-ready camelCase dict; unset optional fields are left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Params(WireModel):
    """Base for request params. Unknown fields are ignored (LSP convention), but the
    declared ones are strictly typed: a wrong type is a -32602 with the field named."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", strict=True
    )


# An LSP work-done progress token.
ProgressToken = int | str
