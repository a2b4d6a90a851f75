"""Structured Field Values (RFC 8941 / RFC 9651) for the Web Bot Auth headers, through ``http-sf``.

``http-sf`` parses and serialises; this module only maps its values onto the small typed shapes
``gate.botauth`` works with (``Item``, ``InnerList``, ``Token``), and refuses what those headers
never carry: the RFC 9651 additions (Date, Display String) are malformed here, and a Decimal is a
``float``.  Every parse error is a ``ValueError`` (``StructuredFieldError``), which botauth reports
as ``malformed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import http_sf
from http_sf.innerlist import ser_innerlist
from http_sf.item import ser_item


class Token(str):
    """An SF Token, kept apart from SF Strings because they serialise differently."""

    __slots__ = ()


BareItem = bool | int | float | str | bytes  # str covers Token; float is an SF Decimal
Params = dict[str, BareItem]


@dataclass(frozen=True, slots=True)
class Item:
    value: BareItem
    params: Params = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InnerList:
    items: tuple[Item, ...]
    params: Params = field(default_factory=dict)


Member = Item | InnerList


class StructuredFieldError(ValueError):
    """A structured field failed to parse or cannot be serialised."""


def _bare(value: Any) -> BareItem:
    if isinstance(value, http_sf.Token):
        return Token(str(value))
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, http_sf.DisplayString) or not isinstance(value, bool | int | str | bytes):
        raise StructuredFieldError(f"unsupported structured value {type(value).__name__}")
    return value


def _params(params: Mapping[str, Any]) -> Params:
    return {key: _bare(value) for key, value in params.items()}


def _member(value: Any, params: Mapping[str, Any]) -> Member:
    if isinstance(value, list):
        return InnerList(tuple(Item(_bare(v), _params(p)) for v, p in value), _params(params))
    return Item(_bare(value), _params(params))


def _parse(text: str, kind: str) -> Any:
    if not text.isascii():
        raise StructuredFieldError("non-ASCII field value")
    try:
        return http_sf.parse(text.encode("ascii"), tltype=kind)
    except http_sf.StructuredFieldError as exc:
        raise StructuredFieldError(str(exc)) from exc


def parse_dictionary(text: str) -> dict[str, Member]:
    """Parse an SF Dictionary; raises ``ValueError`` when malformed."""
    return {key: _member(*member) for key, member in _parse(text, "dictionary").items()}


def parse_item(text: str) -> Item:
    """Parse an SF Item; raises ``ValueError`` when malformed."""
    member = _member(*_parse(text, "item"))
    assert isinstance(member, Item)  # an item never parses as an inner list
    return member


def _wire(value: BareItem) -> Any:
    if isinstance(value, Token):
        return http_sf.Token(str(value))
    if isinstance(value, float):
        return Decimal(str(round(value, 3)))
    return value


def _wire_params(params: Mapping[str, BareItem]) -> dict[str, Any]:
    return {key: _wire(value) for key, value in params.items()}


def serialize_bare(value: BareItem) -> str:
    """Serialise a bare item (a header value with no parameters)."""
    return serialize_member(Item(value))


def serialize_member(member: Member) -> str:
    """Serialise an Item or Inner List with its parameters."""
    try:
        if isinstance(member, InnerList):
            items = [(_wire(item.value), _wire_params(item.params)) for item in member.items]
            inner: Any = (items, _wire_params(member.params))  # http-sf's InnerListType
            return ser_innerlist(inner)
        return ser_item((_wire(member.value), _wire_params(member.params)))
    except ValueError as exc:  # e.g. an integer out of range, a string SF cannot carry
        raise StructuredFieldError(str(exc)) from exc
