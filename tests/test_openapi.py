"""The OpenAPI 3.1 document: sources, schemas, responses, security, determinism and validity."""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import jsonschema
import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel, Field

from armature import App, Body, Cookie, Header, Path, Query, Request, Router
from armature.di import Depends
from armature.exceptions import NotFound
from armature.openapi import OPENAPI_VERSION, build_openapi
from armature.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from armature.testing import TestClient
from examples.app import app as example_app

# -- a rich app: every parameter source, models, lists, enums, optionals, 204s, tags, guards -----


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    street: str
    city: str = "Paris"


class UserIn(BaseModel):
    name: str = Field(min_length=1, max_length=50, description="Display name")
    email: str
    address: Address | None = None
    favourite: Color = Color.RED


class User(UserIn):
    id: int


class Filters(BaseModel):
    q: str | None = Field(default=None, description="Full-text query")
    page: int = Field(default=1, ge=1)
    tag: list[str] = []


class Conflict(BaseModel):
    existing_id: int


class AllowAll:
    """Guards let every request through: only their OpenAPI attributes matter here."""

    def can_activate(self, context: Any) -> bool:
        return True


class BearerGuard(AllowAll):
    openapi_security_scheme = (
        "bearerAuth",
        {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    )


class ApiKeyGuard(AllowAll):
    openapi_security_scheme = ("apiKey", {"type": "apiKey", "in": "header", "name": "X-API-Key"})


OAUTH_SCHEME = {
    "type": "oauth2",
    "flows": {
        "authorizationCode": {
            "authorizationUrl": "https://auth.example.com/authorize",
            "tokenUrl": "https://auth.example.com/token",
            "scopes": {"users:read": "Read users", "users:write": "Write users"},
        },
        "clientCredentials": {
            "tokenUrl": "https://auth.example.com/token",
            "scopes": {"users:read": "Read users"},
        },
    },
}


class OAuthGuard(AllowAll):
    openapi_security_scheme = ("oauth2", OAUTH_SCHEME)

    def __init__(self, *scopes: str) -> None:
        self.openapi_scopes = list(scopes)


class PlainGuard(AllowAll):
    """A guard that declares no scheme (e.g. an IP allow-list): no security requirement."""


def current_tenant(x_tenant: Annotated[str, Header(description="Tenant id")]) -> str:
    return x_tenant


def make_rich_app() -> App:
    app = App(title="rich", version="2.0.0")
    users = Router(prefix="/users", tags=["users"])

    @users.get("/{user_id:int}", extra={"guards": [BearerGuard(), OAuthGuard("users:read")]})
    async def get_user(
        user_id: int,
        verbose: bool = False,
        fields: Annotated[list[str] | None, Query(alias="field")] = None,
    ) -> User:
        """Fetch one user.

        The user is looked up by numeric id.
        """
        if user_id == 0:
            raise NotFound("no such user")
        return User(id=user_id, name="ada", email="ada@example.com")

    @users.post(
        "/",
        status_code=201,
        responses={409: Conflict, 400: "Malformed JSON"},
        extra={"guards": [OAuthGuard("users:write"), OAuthGuard("users:read")]},
    )
    async def create_user(data: UserIn) -> User:
        """Create a user."""
        return User(id=1, **data.model_dump())

    @users.delete("/{user_id:int}", status_code=204, tags=["admin"], deprecated=True)
    async def delete_user(user_id: Annotated[int, Path(ge=1, description="The user")]) -> None:
        """Delete a user."""

    @users.get("/", summary="Search users", extra={"guards": [PlainGuard()]})
    async def search_users(filters: Annotated[Filters, Query()]) -> list[User]:
        """Ignored summary line.

        Searching is by name.
        """
        return []

    app.include_router(users)

    @app.get("/things/{thing_id:uuid}/{rest:path}", operation_id="readThing")
    async def read_thing(
        thing_id: uuid.UUID,
        rest: str,
        color: Color,
        mode: Literal["fast", "slow"] = "fast",
        limit: Annotated[int, Query(ge=1, le=10, deprecated=True)] = 5,
        secret: Annotated[str | None, Query(include_in_schema=False)] = None,
        ids: list[int] = [],  # noqa: B006
        x_request_id: Annotated[str | None, Header()] = None,
        token: Annotated[str, Header(alias="X-Token")] = "none",
        session: Annotated[str | None, Cookie()] = None,
    ) -> dict[str, Any]:
        return {"thing": str(thing_id)}

    @app.put("/things/{thing_id:uuid}/rename")
    async def rename(
        thing_id: uuid.UUID,
        name: Annotated[str, Body(embed=True, min_length=1)],
        request: Request,
    ) -> dict[str, str]:
        return {"name": name}

    @app.post("/pairs")
    async def pair(left: Address, right: Address, note: Annotated[str, Body()] = "") -> bool:
        return True

    @app.route("/multi", ("GET", "POST"))
    async def multi() -> list[int]:
        return [1]

    @app.get("/me")
    async def me(tenant: Annotated[str, Depends(current_tenant)]) -> dict[str, str]:
        return {"tenant": tenant}

    @app.get("/html", response_class=HTMLResponse)
    async def html() -> str:
        return "<p>hi</p>"

    @app.get("/text")
    async def text() -> str:
        return "hi"

    @app.get("/blob")
    async def blob() -> bytes:
        return b"\x00"

    @app.get("/nothing")
    async def nothing() -> None:
        return None

    @app.get("/json-response")
    async def json_response() -> JSONResponse:
        return JSONResponse({"a": 1})

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"x"

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.get("/hidden", include_in_schema=False)
    async def hidden() -> dict[str, int]:
        return {}

    @app.get("/untyped")
    async def untyped(request: Request):  # type: ignore[no-untyped-def]
        return Response(b"ok")

    app.extra["guards"] = [ApiKeyGuard()]
    return app


@pytest.fixture(scope="module")
def rich() -> dict[str, Any]:
    return build_openapi(make_rich_app())


def params_of(operation: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(p["in"], p["name"]): p for p in operation.get("parameters", [])}


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        name = ref.removeprefix("#/components/schemas/")
        return resolve(document, document["components"]["schemas"][name])
    return schema


def validator_for(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A JSON Schema 2020-12 validator whose refs resolve against the document's components."""
    root = {**schema, "components": document["components"]}
    return jsonschema.Draft202012Validator(root)


# -- validity ----------------------------------------------------------------------------------


def test_example_app_document_is_valid_openapi_31() -> None:
    document = build_openapi(example_app)
    validate(document)
    assert document["openapi"] == OPENAPI_VERSION == "3.1.0"
    assert document["info"] == {"title": "armature example", "version": "0.1.0"}
    assert sorted(document["paths"]) == [
        "/",
        "/hello",
        "/items",
        "/items/{item_id}",
        "/page",
        "/stream",
        "/whoami",
    ]
    schemas = document["components"]["schemas"]
    assert {"Item", "ItemIn", "Problem", "ValidationProblem"} <= set(schemas)


def test_rich_app_document_is_valid_openapi_31(rich: dict[str, Any]) -> None:
    validate(rich)


# -- paths and parameters ----------------------------------------------------------------------


def test_path_templates_drop_converters_and_use_their_schemas(rich: dict[str, Any]) -> None:
    operation = rich["paths"]["/things/{thing_id}/{rest}"]["get"]
    params = params_of(operation)
    assert params[("path", "thing_id")]["schema"] == {"type": "string", "format": "uuid"}
    assert params[("path", "thing_id")]["required"] is True
    assert params[("path", "rest")]["schema"] == {"type": "string"}
    user = params_of(rich["paths"]["/users/{user_id}"]["get"])[("path", "user_id")]
    assert user["schema"] == {"type": "integer", "minimum": 0}


def test_path_constraints_win_over_the_converter(rich: dict[str, Any]) -> None:
    param = params_of(rich["paths"]["/users/{user_id}"]["delete"])[("path", "user_id")]
    assert param["schema"] == {"type": "integer", "minimum": 1}
    assert param["description"] == "The user"


def test_query_header_cookie_parameters(rich: dict[str, Any]) -> None:
    operation = rich["paths"]["/things/{thing_id}/{rest}"]["get"]
    params = params_of(operation)
    assert resolve(rich, params[("query", "color")]["schema"])["enum"] == ["red", "blue"]
    assert params[("query", "color")]["required"] is True
    assert params[("query", "mode")]["schema"] == {
        "enum": ["fast", "slow"],
        "type": "string",
        "default": "fast",
    }
    assert "required" not in params[("query", "mode")]
    limit = params[("query", "limit")]
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 10, "default": 5}
    assert limit["deprecated"] is True
    assert params[("query", "ids")]["schema"] == {
        "type": "array",
        "items": {"type": "integer"},
        "default": [],
    }
    assert ("query", "secret") not in params
    assert params[("header", "x-request-id")]["schema"]["anyOf"] == [
        {"type": "string"},
        {"type": "null"},
    ]
    assert params[("header", "x-token")]["schema"]["default"] == "none"
    assert params[("cookie", "session")]["in"] == "cookie"
    # Path parameters come first, in path order; the rest keep signature order.
    assert [p["name"] for p in operation["parameters"]][:2] == ["thing_id", "rest"]


def test_optional_list_query_with_alias(rich: dict[str, Any]) -> None:
    params = params_of(rich["paths"]["/users/{user_id}"]["get"])
    field = params[("query", "field")]
    assert "required" not in field
    assert field["schema"]["anyOf"][0] == {"type": "array", "items": {"type": "string"}}
    assert params[("query", "verbose")]["schema"] == {"type": "boolean", "default": False}


def test_query_model_expands_into_parameters(rich: dict[str, Any]) -> None:
    params = params_of(rich["paths"]["/users"]["get"])
    assert set(params) == {("query", "q"), ("query", "page"), ("query", "tag")}
    assert params[("query", "q")]["description"] == "Full-text query"
    assert params[("query", "page")]["schema"] == {"type": "integer", "minimum": 1, "default": 1}
    assert params[("query", "tag")]["schema"]["type"] == "array"
    assert not any(p.get("required") for p in params.values())


def test_request_and_dependency_injection_params_are_not_parameters(rich: dict[str, Any]) -> None:
    rename = rich["paths"]["/things/{thing_id}/rename"]["put"]
    assert [p["name"] for p in rename["parameters"]] == ["thing_id"]
    me = params_of(rich["paths"]["/me"]["get"])
    # The dependency's own header is documented; the injected value is not a parameter.
    assert list(me) == [("header", "x-tenant")]
    assert me[("header", "x-tenant")] == {
        "name": "x-tenant",
        "in": "header",
        "required": True,
        "description": "Tenant id",
        "schema": {"type": "string"},
    }


# -- bodies and responses ----------------------------------------------------------------------


def test_request_body_from_model_with_nested_models(rich: dict[str, Any]) -> None:
    body = rich["paths"]["/users"]["post"]["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/UserIn"}
    user_in = rich["components"]["schemas"]["UserIn"]
    assert user_in["required"] == ["name", "email"]
    assert user_in["properties"]["name"]["maxLength"] == 50
    assert user_in["properties"]["address"]["anyOf"][0] == {"$ref": "#/components/schemas/Address"}
    assert user_in["properties"]["favourite"]["$ref"] == "#/components/schemas/Color"


def test_embedded_bodies(rich: dict[str, Any]) -> None:
    rename = rich["paths"]["/things/{thing_id}/rename"]["put"]["requestBody"]
    schema = resolve(rich, rename["content"]["application/json"]["schema"])
    assert schema["properties"]["name"] == {"minLength": 1, "title": "Name", "type": "string"}
    assert schema["required"] == ["name"]
    pairs = rich["paths"]["/pairs"]["post"]["requestBody"]
    ref = pairs["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/Body_pair"
    schema = resolve(rich, pairs["content"]["application/json"]["schema"])
    assert sorted(schema["properties"]) == ["left", "note", "right"]
    assert schema["required"] == ["left", "right"]


def test_success_responses_by_return_type(rich: dict[str, Any]) -> None:
    paths = rich["paths"]

    def ok(path: str, method: str = "get", status: str = "200") -> dict[str, Any]:
        response: dict[str, Any] = paths[path][method]["responses"][status]
        return response

    assert ok("/users/{user_id}")["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/User"
    }
    assert ok("/users")["content"]["application/json"]["schema"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/User"},
    }
    created = ok("/users", "post", "201")
    assert created["description"] == "Created"
    deleted = ok("/users/{user_id}", "delete", "204")
    assert deleted == {"description": "No Content"}
    assert ok("/html")["content"] == {"text/html": {"schema": {"type": "string"}}}
    assert ok("/text")["content"] == {"text/plain": {"schema": {"type": "string"}}}
    assert ok("/blob")["content"] == {"application/octet-stream": {}}
    assert "content" not in ok("/nothing")
    assert ok("/json-response")["content"] == {"application/json": {}}
    assert "content" not in ok("/stream")
    assert "content" not in ok("/untyped")
    assert ok("/me")["content"]["application/json"]["schema"] == {
        "type": "object",
        "additionalProperties": {"type": "string"},
    }
    assert ok("/pairs", "post")["content"]["application/json"]["schema"] == {"type": "boolean"}


def test_problem_responses(rich: dict[str, Any]) -> None:
    get_user = rich["paths"]["/users/{user_id}"]["get"]["responses"]
    assert list(get_user) == ["200", "422", "default"]
    assert get_user["422"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/ValidationProblem"
    }
    assert get_user["default"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }
    # A route that validates nothing documents no 422.
    assert "422" not in rich["paths"]["/text"]["get"]["responses"]
    created = rich["paths"]["/users"]["post"]["responses"]
    assert list(created) == ["201", "400", "409", "422", "default"]
    assert created["400"]["description"] == "Malformed JSON"
    assert created["400"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }
    assert created["409"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Conflict"
    }


def test_problem_schemas_describe_real_error_responses() -> None:
    app = make_rich_app()
    document = build_openapi(app)
    problem = validator_for(document, {"$ref": "#/components/schemas/Problem"})
    validation = validator_for(document, {"$ref": "#/components/schemas/ValidationProblem"})
    with TestClient(app) as client:
        invalid = client.post("/users", json={"name": "", "address": {}})
        missing = client.get("/users/0")
        unrouted = client.get("/nowhere")
    assert invalid.status_code == 422
    validation.validate(invalid.json())
    for response in (missing, unrouted):
        assert response.status_code == 404
        problem.validate(response.json())
    with pytest.raises(jsonschema.ValidationError):
        validation.validate(missing.json())


def test_success_bodies_match_their_schemas() -> None:
    app = make_rich_app()
    document = build_openapi(app)
    with TestClient(app) as client:
        for path, url in [("/users/{user_id}", "/users/7"), ("/me", "/me")]:
            response = client.get(url, headers={"x-tenant": "acme"})
            assert response.status_code == 200
            schema = document["paths"][path]["get"]["responses"]["200"]["content"][
                "application/json"
            ]["schema"]
            validator_for(document, schema).validate(response.json())


# -- operations ----------------------------------------------------------------------------------


def test_summaries_descriptions_tags_deprecated(rich: dict[str, Any]) -> None:
    get_user = rich["paths"]["/users/{user_id}"]["get"]
    assert get_user["summary"] == "Fetch one user."
    assert get_user["description"] == "The user is looked up by numeric id."
    assert get_user["tags"] == ["users"]
    search = rich["paths"]["/users"]["get"]
    assert search["summary"] == "Search users"
    assert search["description"] == "Searching is by name."
    delete = rich["paths"]["/users/{user_id}"]["delete"]
    assert delete["tags"] == ["users", "admin"]
    assert delete["deprecated"] is True
    assert "deprecated" not in get_user
    assert "summary" not in rich["paths"]["/text"]["get"]
    assert rich["tags"] == [{"name": "admin"}, {"name": "users"}]


def test_operation_ids_are_unique_and_follow_names(rich: dict[str, Any]) -> None:
    ids = [
        operation["operationId"] for item in rich["paths"].values() for operation in item.values()
    ]
    assert len(ids) == len(set(ids))
    assert rich["paths"]["/things/{thing_id}/{rest}"]["get"]["operationId"] == "readThing"
    assert rich["paths"]["/multi"]["get"]["operationId"] == "multi_get"
    assert rich["paths"]["/multi"]["post"]["operationId"] == "multi_post"
    assert rich["paths"]["/users/{user_id}"]["get"]["operationId"] == "get_user"


def test_duplicate_route_names_get_distinct_operation_ids() -> None:
    app = App()
    for path in ("/a", "/b", "/c"):

        async def handler() -> dict[str, int]:
            return {}

        app.add_route(path, handler, name="same")
    named = Router(prefix="/v2", name="v2")

    @named.get("/x")
    async def x() -> dict[str, int]:
        return {}

    app.include_router(named)
    document = build_openapi(app)
    ids = [document["paths"][p]["get"]["operationId"] for p in ("/a", "/b", "/c", "/v2/x")]
    assert ids == ["same", "same_2", "same_3", "v2_x"]
    validate(document)


def test_hidden_routes_are_left_out(rich: dict[str, Any]) -> None:
    assert "/hidden" not in rich["paths"]


def test_openapi_extra_is_merged_into_the_operation() -> None:
    app = App()

    @app.get("/x", extra={"openapi": {"x-internal": True, "externalDocs": {"url": "https://e.x"}}})
    async def x() -> dict[str, int]:
        return {}

    operation = build_openapi(app)["paths"]["/x"]["get"]
    assert operation["x-internal"] is True
    assert operation["externalDocs"] == {"url": "https://e.x"}


# -- security ------------------------------------------------------------------------------------


def test_security_schemes_from_guards(rich: dict[str, Any]) -> None:
    schemes = rich["components"]["securitySchemes"]
    assert list(schemes) == ["apiKey", "bearerAuth", "oauth2"]
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schemes["apiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["oauth2"] == OAUTH_SCHEME
    paths = rich["paths"]
    assert paths["/users/{user_id}"]["get"]["security"] == [
        {"apiKey": [], "bearerAuth": [], "oauth2": ["users:read"]}
    ]
    # Two guards on the same scheme: all their scopes are required.
    assert paths["/users"]["post"]["security"] == [
        {"apiKey": [], "oauth2": ["users:read", "users:write"]}
    ]
    # The app-level guard applies everywhere; a guard without a scheme adds nothing.
    assert paths["/users"]["get"]["security"] == [{"apiKey": []}]
    assert paths["/text"]["get"]["security"] == [{"apiKey": []}]


def test_router_level_guards() -> None:
    app = App()
    admin = Router(prefix="/admin")
    admin.extra["guards"] = [BearerGuard()]

    @admin.get("/stats")
    async def stats() -> dict[str, int]:
        return {}

    @app.get("/public")
    async def public() -> dict[str, int]:
        return {}

    app.include_router(admin)
    document = build_openapi(app)
    assert document["paths"]["/admin/stats"]["get"]["security"] == [{"bearerAuth": []}]
    assert "security" not in document["paths"]["/public"]["get"]
    validate(document)


def test_conflicting_security_schemes_are_an_error() -> None:
    class OtherBearer(AllowAll):
        openapi_security_scheme = ("bearerAuth", {"type": "http", "scheme": "basic"})

    app = App()

    @app.get("/a", extra={"guards": [BearerGuard()]})
    async def a() -> None: ...

    @app.get("/b", extra={"guards": [OtherBearer()]})
    async def b() -> None: ...

    with pytest.raises(ValueError, match="'bearerAuth' is declared differently"):
        build_openapi(app)


def test_malformed_security_scheme_is_an_error() -> None:
    class Broken(AllowAll):
        openapi_security_scheme = "bearer"

    app = App()

    @app.get("/a", extra={"guards": [Broken()]})
    async def a() -> None: ...

    with pytest.raises(ValueError, match="must be \\(name, scheme dict\\)"):
        build_openapi(app)


# -- components and determinism ------------------------------------------------------------------


def test_a_user_model_named_problem_does_not_clash() -> None:
    class Problem(BaseModel):
        severity: int

    app = App()

    @app.post("/report")
    async def report(problem: Problem) -> dict[str, int]:
        return {}

    document = build_openapi(app)
    validate(document)
    schemas = document["components"]["schemas"]
    assert schemas["Problem"]["properties"] == {
        "severity": {"title": "Severity", "type": "integer"}
    }
    assert schemas["armature.Problem"]["title"] == "Problem"
    responses = document["paths"]["/report"]["post"]["responses"]
    assert responses["default"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/armature.Problem"
    }
    assert schemas["ValidationProblem"]["allOf"][0] == {
        "$ref": "#/components/schemas/armature.Problem"
    }


def test_output_is_deterministic() -> None:
    first = json.dumps(build_openapi(make_rich_app()), sort_keys=True)
    second = json.dumps(build_openapi(make_rich_app()), sort_keys=True)
    assert first == second
    document = build_openapi(make_rich_app())
    assert list(document["components"]["schemas"]) == sorted(document["components"]["schemas"])
    assert list(document["paths"]) == sorted(document["paths"])


def test_an_app_without_routes() -> None:
    document = build_openapi(App(title="empty", version="0"))
    validate(document)
    assert document["paths"] == {}
    assert sorted(document["components"]["schemas"]) == ["Problem", "ValidationProblem"]
    assert "tags" not in document
