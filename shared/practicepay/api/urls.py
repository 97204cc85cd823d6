"""The public base URL a request reached us at, for links we hand out (a pay link's URL)."""

from __future__ import annotations

from typing import Any

_LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def api_base_url(request_context: dict[str, Any]) -> str:
    """`https://<api id>.execute-api.<region>.amazonaws.com/<stage>` on API Gateway's own domain (the stage is in
    the path there), `https://<domain>` on a custom domain (its base path mapping hides the stage), and
    `http://localhost:<port>` on the local stack's front."""
    domain = str(request_context.get("domainName") or "localhost")
    if domain.split(":")[0] in _LOCAL_HOSTS:
        return f"http://{domain}"
    if ".execute-api." in domain:
        return f"https://{domain}/{request_context.get('stage') or ''}".rstrip("/")
    return f"https://{domain}"


def path_prefix(request_context: dict[str, Any]) -> str:
    """The path before our routes in the URL a browser sees: `/<stage>` on API Gateway's own domain, nothing on a
    custom domain or the local front."""
    base = api_base_url(request_context)
    return "/" + base.split("/", 3)[3] if base.count("/") > 2 else ""
