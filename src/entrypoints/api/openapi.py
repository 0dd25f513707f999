"""The error responses of every operation, documented in one place.

Errors come from one exception handler (``errors.py``) in one envelope, so they are
documented once here too: every operation lists the error statuses the API can answer
with, each with the ``Failure`` schema, instead of Litestar's default validation body.
"""

from __future__ import annotations

from litestar.openapi.spec import Components, OpenAPI, OpenAPIMediaType, OpenAPIResponse, Reference, Schema
from litestar.openapi.spec.enums import OpenAPIType

ERROR_STATUSES = {
    "400": "Invalid request: the body, a parameter or a value breaks a rule (see error.code)",
    "401": "Missing or wrong API key",
    "404": "Unknown id (or another agent's)",
    "405": "Method not allowed",
    "409": "Conflict with the current state (an illegal transition, an active job)",
    "413": "Payload over a size limit",
    "415": "Unsupported media type",
    "429": "Too many requests",
    "500": "Internal error",
    "503": "A backing service is unavailable; retry later",
}

FAILURE = Schema(
    type=OpenAPIType.OBJECT,
    required=["success", "error"],
    properties={
        "success": Schema(type=OpenAPIType.BOOLEAN, const=False),
        "error": Schema(
            type=OpenAPIType.OBJECT,
            required=["code", "message"],
            properties={
                "code": Schema(type=OpenAPIType.STRING, description="Stable, documented error code"),
                "message": Schema(type=OpenAPIType.STRING, description="What went wrong, for a person"),
                "details": Schema(description="Optional machine-readable details"),
            },
        ),
    },
    description="The error envelope",
)


def document_errors(schema: OpenAPI) -> OpenAPI:
    if schema.components is None:
        schema.components = Components(schemas={})
    assert schema.components.schemas is not None
    schema.components.schemas["Failure"] = FAILURE
    ref = Reference(ref="#/components/schemas/Failure")
    for item in (schema.paths or {}).values():
        for operation in (item.get, item.post, item.put, item.patch, item.delete):
            if operation is None:
                continue
            responses = operation.responses if operation.responses is not None else {}
            for status, description in ERROR_STATUSES.items():
                responses[status] = OpenAPIResponse(
                    description=description, content={"application/json": OpenAPIMediaType(schema=ref)}
                )
            operation.responses = responses
    return schema
