"""GET /docs (Swagger UI served from the swagger-ui-bundle package, no CDN) and GET /openapi.json."""

from __future__ import annotations

import json
import mimetypes
from functools import cache

from swagger_ui_bundle import swagger_ui_path
from werkzeug.wrappers import Request, Response

from local.openapi import openapi_schema

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>PracticePay API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", persistAuthorization: true});</script>
</body></html>"""
_ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js")


@cache
def _openapi_json() -> str:
    return json.dumps(openapi_schema(), indent=2)


def openapi_json(_request: Request) -> Response:
    return Response(_openapi_json(), content_type="application/json")


def docs_page(_request: Request) -> Response:
    return Response(_PAGE, content_type="text/html; charset=utf-8")


def _asset(name: str):
    def serve(_request: Request) -> Response:
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return Response((swagger_ui_path / name).read_bytes(), content_type=content_type)

    return serve


def routes() -> dict:
    pages = {"/openapi.json": openapi_json, "/docs": docs_page}
    pages.update({f"/docs/{name}": _asset(name) for name in _ASSETS})
    return pages
