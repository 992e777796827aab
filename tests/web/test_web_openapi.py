"""The API's OpenAPI description: it names exactly the routes the app registers, and it is
served as ``/api/openapi.json`` behind the same check as the rest."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from party_button.testing.web_client import request
from party_button.web.app import make_app
from party_button.web.daemon_link import DaemonLink
from party_button.web.page_config import PageConfig
from party_button.web.static_files import OPENAPI
from tests.web.conftest import TOKEN, WEB

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def description() -> dict[str, Any]:
    return json.loads(OPENAPI.read_text(encoding="utf-8"))


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Every operation of ``document`` by (METHOD, path)."""
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def registered(app: web.Application) -> set[tuple[str, str]]:
    """(METHOD, path) of every route of ``app``, as OpenAPI writes paths; HEAD, which aiohttp
    adds to each GET, is left out, and the static folder is ``/static/{file}``."""
    routes = set()
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        path = route.resource.canonical
        if isinstance(route.resource, web.StaticResource):
            path += "/{file}"
        routes.add((route.method, path))
    return routes


def test_it_describes_exactly_the_routes_the_app_registers(make_config, tmp_path):
    app = make_app(PageConfig.of(make_config(WEB)), DaemonLink(tmp_path / "none.sock"))
    routes, described = registered(app), set(operations(description()))
    assert routes - described == set(), "routes without a description in openapi.json"
    assert described - routes == set(), "described in openapi.json but not registered"
    assert ("POST", "/api/press") in routes and ("DELETE", "/api/songs/{name}") in routes


def resolve(document: dict[str, Any], reference: str) -> Any:
    assert reference.startswith("#/"), reference
    found: Any = document
    for key in reference[2:].split("/"):
        assert isinstance(found, dict) and key in found, f"{reference} does not resolve"
        found = found[key]
    return found


def references(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in references(value)]
    return []


def test_it_is_an_openapi_3_1_document():
    document = description()
    assert re.fullmatch(r"3\.1\.\d+", document["openapi"])
    assert document["info"]["title"] and document["info"]["version"]
    schemes = document["components"]["securitySchemes"]
    ids = []
    for (method, path), operation in operations(document).items():
        where = f"{method} {path}"
        assert operation["responses"], where
        assert all(re.fullmatch(r"[1-5]\d\d", code) for code in operation["responses"]), where
        assert any(code.startswith("2") for code in operation["responses"]), where
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"\{(\w+)\}", path)), where
        for requirement in operation.get("security", document["security"]):
            assert set(requirement) <= set(schemes), where
        ids.append(operation["operationId"])
    assert len(ids) == len(set(ids)), "operationIds must be unique"
    for reference in references(document):
        resolve(document, reference)


def test_the_service_serves_it_to_who_may_use_the_api(party):
    _daemon, service = party(daemon=False)
    answer = request(
        service.url, "GET", "/api/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.json == description()
    assert request(service.url, "GET", "/api/openapi.json").status == 401
