"""The OpenAPI 3.1 document of the gate's own JSON endpoints (served at ``<endpoint>/openapi.json``).

It describes what docs/protocol.md specifies for programs: the discovery document, showing a pending
challenge again, and answering it.  Gated resources themselves are the site's, not the gate's, and
are not described; their 401 answer is the same error object as below.
"""

from __future__ import annotations

from typing import Any

from middleware.discovery import DISCOVERY_PATH

_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "A stable code, docs/protocol.md §10."},
        "message": {"type": "string"},
        "attempts_left": {"type": "integer"},
        "retry_after": {"type": "integer"},
    },
}
_CHALLENGE = {
    "type": "object",
    "required": ["challenge"],
    "properties": {"challenge": {"type": "object"}},
}
_PASS = {
    "type": "object",
    "required": ["pass", "authorization", "scope", "budget", "expires_at", "price"],
    "properties": {
        "pass": {"type": "string"},
        "authorization": {"type": "string"},
        "scope": {"type": "string"},
        "budget": {"type": "integer"},
        "expires_at": {"type": "integer"},
        "price": {"type": "integer"},
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_document(endpoint: str = "/.gate") -> dict[str, Any]:
    challenge = f"{endpoint}/challenges/{{id}}"
    identifier = {
        "name": "id",
        "in": "path",
        "required": True,
        "description": "The challenge id from the 401 answer (22 base64url characters).",
        "schema": {"type": "string"},
    }
    errors = {
        code: _json(_ERROR, text)
        for code, text in (
            ("400", "Wrong answer, or a request the gate refuses as sent"),
            ("403", "The challenge was issued to another client"),
            ("410", "Unknown, expired, solved or out of attempts"),
            ("413", "Body too large"),
            ("415", "Unsupported media type"),
            ("422", "Unreadable answer"),
            ("429", "Too early, or a challenge being prepared"),
            (
                "431",
                "Too many header fields or header bytes (GATE_MAX_HEADERS, GATE_MAX_HEADER_BYTES)",
            ),
            ("503", "The gate could not decide; retry later"),
        )
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Reasoning Gate",
            "version": "1",
            "description": "The gate's own endpoints; docs/protocol.md is the full protocol.",
        },
        "paths": {
            DISCOVERY_PATH: {
                "get": {
                    "summary": "Prices and how to solve",
                    "responses": {
                        "200": _json({"type": "object"}, "The discovery document"),
                        "431": errors["431"],
                    },
                }
            },
            challenge: {
                "get": {
                    "summary": "Show a pending challenge again",
                    "parameters": [identifier],
                    "responses": {
                        "200": _json(_CHALLENGE, "The pending challenge"),
                        "410": errors["410"],
                        "431": errors["431"],
                    },
                },
                "post": {
                    "summary": "Answer a challenge; success returns a pass",
                    "parameters": [identifier],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "answers": {
                                            "type": "array",
                                            "minItems": 1,
                                            "maxItems": 16,
                                            "items": {"type": "string", "maxLength": 256},
                                        },
                                        "answer": {"type": "string", "maxLength": 256},
                                    },
                                }
                            },
                            "application/x-www-form-urlencoded": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "answer": {"type": "string"},
                                        "next": {"type": "string"},
                                    },
                                }
                            },
                        },
                    },
                    "responses": {"200": _json(_PASS, "The pass"), **errors},
                },
            },
        },
    }
