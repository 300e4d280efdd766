"""The OpenAPI document laid out for the docs page (/api/v1/docs, templates/api/docs.html).

The page shows the document itself, nothing written twice: each operation with its parameters, request body,
responses (status, error codes, headers) and examples, then each schema's fields and rules. It needs no script,
so the strict Content-Security-Policy stays as it is.
"""

import json
import re

from .openapi import BASE_PATH

REF_PREFIX = "#/components/schemas/"
RULES = ("format", "pattern", "minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems", "default")


def docs_context(document: dict) -> dict:
    schemes = document["components"]["securitySchemes"]
    return {
        "info": document["info"],
        "description": segments(document["info"]["description"]),
        "base_path": BASE_PATH,
        "openapi_version": document["openapi"],
        "security": [{"name": name, "description": segments(s["description"])} for name, s in schemes.items()],
        "operations": operations(document),
        "schemas": [schema_card(name, schema) for name, schema in document["components"]["schemas"].items()],
    }


def segments(text: str) -> list[tuple[str, bool]]:
    """Prose with `code` in backticks, as (text, is_code) pieces for the template to mark up."""
    return [(piece, index % 2 == 1) for index, piece in enumerate(re.split(r"`", text)) if piece]


def operations(document: dict) -> list[dict]:
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}).get("content", {})
            found.append(
                {
                    "anchor": operation["operationId"],
                    "method": method.upper(),
                    "path": BASE_PATH + path,
                    "summary": segments(operation["summary"]),
                    "description": segments(operation.get("description", "")),
                    "needs_token": operation.get("security", document["security"]) != [],
                    "parameters": [
                        {
                            "name": p["name"],
                            "where": p["in"],
                            "required": p.get("required", False),
                            "type": describe(p["schema"]),
                            "description": segments(p.get("description", "")),
                        }
                        for p in operation.get("parameters", [])
                    ],
                    "request": [media(kind, content) for kind, content in body.items()],
                    "responses": [response(status, r) for status, r in operation["responses"].items()],
                }
            )
    return found


def response(status: str, answer: dict) -> dict:
    return {
        "status": status,
        "description": segments(answer["description"]),
        "content": [media(kind, content) for kind, content in answer.get("content", {}).items()],
        "headers": [
            {
                "name": name,
                "value": header["schema"].get("const", ""),
                "description": segments(header.get("description", "")),
            }
            for name, header in answer.get("headers", {}).items()
        ],
    }


def media(kind: str, content: dict) -> dict:
    schema = content.get("schema")
    example = content.get("example")
    return {
        "type": kind,
        "schema": describe(schema) if schema else None,
        "codes": error_codes(schema or {}),
        "example": json.dumps(example, indent=2, ensure_ascii=False) if example is not None else "",
    }


def error_codes(schema: dict) -> list[str]:
    """The codes an error answer narrows `error.code` to (see openapi.error_response)."""
    for part in schema.get("allOf", []):
        code = part.get("properties", {}).get("error", {}).get("properties", {}).get("code", {})
        if "enum" in code:
            return code["enum"]
    return []


def describe(schema: dict) -> dict:
    """A schema in a few words: the components it names (links on the page), an array or not, and a short text."""
    if "$ref" in schema:
        return {"refs": [schema["$ref"].removeprefix(REF_PREFIX)], "array": False, "text": ""}
    if "allOf" in schema:
        refs = [ref for part in schema["allOf"] for ref in describe(part)["refs"]]
        consts = [
            f"{field} = {json.dumps(rule['const'])}"
            for part in schema["allOf"]
            for field, rule in part.get("properties", {}).items()
            if "const" in rule
        ]
        return {"refs": refs, "array": False, "text": ", ".join(consts)}
    if "oneOf" in schema:
        return {"refs": [ref for part in schema["oneOf"] for ref in describe(part)["refs"]], "array": False, "text": ""}
    if schema.get("type") == "array":
        return {**describe(schema.get("items", {})), "array": True}
    if "const" in schema:
        return {"refs": [], "array": False, "text": json.dumps(schema["const"])}
    kind = schema.get("type", "")
    if "enum" in schema:
        kind = f"{kind}: " + ", ".join(str(value) for value in schema["enum"])
    return {"refs": [], "array": False, "text": kind}


def schema_card(name: str, schema: dict) -> dict:
    required = set(schema.get("required", []))
    return {
        "name": name,
        "description": segments(schema.get("description", "")),
        "fields": [
            {
                "name": field,
                "required": field in required,
                "type": describe(rule),
                "rules": [f"{key}: {shown(rule[key])}" for key in RULES if key in rule],
                "description": segments(rule.get("description", "")),
                "example": json.dumps(rule["examples"][0], ensure_ascii=False) if rule.get("examples") else "",
            }
            for field, rule in schema.get("properties", {}).items()
        ],
    }


def shown(value) -> str:
    """A rule's value as written in the document: a pattern without JSON's doubled backslashes."""
    return value if isinstance(value, str) and value else json.dumps(value)
