"""Commands accepted by the ticket services and the management API (Pydantic v2)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from openability.tickets.rules import Importance, SlaUnit, TicketType


class _Cmd(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CreateTicket(_Cmd):
    type: str = Field(max_length=24)
    subtype: str = Field(max_length=24)
    importance: Importance = Importance.GENERAL
    subject: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    # Agents entering a hotline ticket name the partner; partner users' tickets are their own.
    partner_id: str | None = Field(default=None, max_length=40)
    related_statement_id: str | None = Field(default=None, max_length=40)
    related_order_id: str | None = Field(default=None, max_length=40)
    related_call_ids: list[str] = Field(default_factory=list, max_length=200)
    related_month: str | None = Field(default=None, max_length=7)
    related_product_ref: str | None = Field(default=None, max_length=40)

    @field_validator("related_call_ids")
    @classmethod
    def _ids(cls, v: list[str]) -> list[str]:
        out = []
        for x in v:
            x = x.strip()
            if not x or len(x) > 40:
                raise ValueError("call ids must be 1-40 characters")
            if x not in out:
                out.append(x)
        return out


class CommentIn(_Cmd):
    body: str = Field(min_length=1, max_length=10_000)
    internal: bool = False


class TransitionIn(_Cmd):
    note: str = Field(default="", max_length=10_000)
    # resolve: the resolution text; business requests may name what to act on here.
    resolution: str = Field(default="", max_length=10_000)
    product_ref: str | None = Field(default=None, max_length=40)
    order_id: str | None = Field(default=None, max_length=40)


class ReassignIn(_Cmd):
    owner_id: str = Field(min_length=1, max_length=40)
    note: str = Field(default="", max_length=500)


class PolicyRowIn(_Cmd):
    type: TicketType
    subtype: str = Field(default="", max_length=24)
    importance: str = Field(default="", max_length=24)
    first_response_amount: int = Field(ge=1, le=100_000)
    first_response_unit: SlaUnit
    final_amount: int = Field(ge=1, le=100_000)
    final_unit: SlaUnit
    note: str = Field(default="", max_length=300)


class PolicySetIn(_Cmd):
    items: list[PolicyRowIn] = Field(min_length=1, max_length=200)
    note: str = Field(default="", max_length=300)


class OverrideIn(_Cmd):
    is_working: bool
    note: str = Field(default="", max_length=200)


class YearConfirmIn(_Cmd):
    confirmed: bool
    note: str = Field(default="", max_length=200)
