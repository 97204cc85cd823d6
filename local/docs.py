"""GET /docs (Swagger UI 5, which renders OpenAPI 3.1, served from the flask-swagger-ui package's copy of
swagger-ui-dist: no CDN), local only. The page loads GET /openapi.json, which is a route of the API like any other
(infra.definitions.ROUTES: the docs function serves the committed document, here as in AWS)."""

from __future__ import annotations

import importlib.util
import mimetypes
from pathlib import Path

from werkzeug.wrappers import Request, Response

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>PracticePay API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", persistAuthorization: true});</script>
</body></html>"""
_ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png")


def swagger_ui_dist() -> Path:
    """The swagger-ui-dist files flask-swagger-ui ships (found without importing it: that would import Flask)."""
    spec = importlib.util.find_spec("flask_swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("flask-swagger-ui is not installed: pip install -e '.[local]'")
    return Path(next(iter(spec.submodule_search_locations))) / "dist"


def swagger_ui_version() -> str:
    return (swagger_ui_dist() / "VERSION").read_text().strip().removeprefix("v")


def docs_page(_request: Request) -> Response:
    return Response(_PAGE, content_type="text/html; charset=utf-8")


def _asset(name: str):
    path = swagger_ui_dist() / name
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"

    def serve(_request: Request) -> Response:
        return Response(path.read_bytes(), content_type=content_type)

    return serve


def routes() -> dict:
    pages = {"/docs": docs_page}
    pages.update({f"/docs/{name}": _asset(name) for name in _ASSETS})
    return pages
