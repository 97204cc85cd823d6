"""GET /docs in a real browser (Debian's chromium driven by playwright): Swagger UI renders our OpenAPI 3.1
document, lists every tag with all its operations, and loads nothing from outside the local front (no CDN).

The page and its assets are served by the local API front (local.front.LocalApiGateway with local.docs.routes(),
as `make run` serves them), on a werkzeug server in a thread: the rest of the stack is not needed for /docs."""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
RENDER_WAIT_MS = 60_000  # how long the page may take to render on a busy machine (a wait, not an assertion)
# The page-level rules our own markup answers for (the rest of the page is Swagger UI's: see test_accessibility).
OWN_AXE_RULES = {
    "html-has-lang",
    "html-lang-valid",
    "html-xml-lang-mismatch",
    "document-title",
    "meta-viewport",
    "meta-viewport-large",
    "meta-refresh",
    "landmark-no-duplicate-main",
}

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is absent: `make browser` installs Debian's chromium", allow_module_level=True)

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402  (after the skip: dev extra only)


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    from werkzeug.serving import WSGIRequestHandler, make_server

    from local import docs
    from local.front import LocalApiGateway

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args, **kwargs) -> None:  # no access line per asset
            pass

    server = make_server("127.0.0.1", 0, LocalApiGateway(extra=docs.routes()), threaded=True, request_handler=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture(scope="module")
def document(base) -> dict:
    import requests

    return requests.get(f"{base}/openapi.json", timeout=30).json()


class Loaded:
    def __init__(self, page: Page, requests: list[str], problems: list[str]):
        self.page, self.requests, self.problems = page, requests, problems


@pytest.fixture(scope="module")
def docs_page(base) -> Iterator[Loaded]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        page = browser.new_page()
        requests: list[str] = []
        problems: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}"))
        page.goto(f"{base}/docs", wait_until="load")
        # Swagger UI renders either the operations or its "Unable to render this definition" / errors box.
        page.wait_for_selector(
            ".opblock-tag-section, .version-pragma, .errors-wrapper", state="attached", timeout=RENDER_WAIT_MS
        )
        yield Loaded(page, requests, problems)
        if os.environ.get("PRACTICEPAY_DOCS_SCREENSHOT"):
            page.screenshot(path=os.environ["PRACTICEPAY_DOCS_SCREENSHOT"], full_page=True)
        browser.close()


def test_the_document_renders_as_openapi_3_1(docs_page, document):
    page = docs_page.page
    assert document["openapi"].startswith("3.1")
    assert "Unable to render this definition" not in page.content()
    assert page.locator(".version-pragma").count() == 0
    assert page.locator(".errors-wrapper").count() == 0
    expect(page.locator(".info .title")).to_contain_text(document["info"]["title"])
    expect(page.locator(".info .version-stamp")).to_have_text("OAS 3.1")
    assert docs_page.problems == []


def test_every_tag_lists_all_its_operations(docs_page, document):
    """Each tag's section holds exactly the document's operations of that tag (untagged ones: `default`)."""
    page = docs_page.page
    expected: dict[str, set[tuple[str, str]]] = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for tag in operation.get("tags") or ["default"]:
                expected.setdefault(tag, set()).add((method.upper(), path))
    assert sum(map(len, expected.values())) >= 30  # every route of the API, several tags

    sections = page.locator(".opblock-tag-section")
    expect(sections).to_have_count(len(expected), timeout=RENDER_WAIT_MS)
    shown: dict[str, set[tuple[str, str]]] = {}
    counts: Counter[str] = Counter()
    for section in sections.all():
        tag = section.locator("h3.opblock-tag").get_attribute("data-tag")
        blocks = section.locator(".opblock")
        expect(blocks).to_have_count(len(expected.get(tag, ())), timeout=RENDER_WAIT_MS)
        counts[tag] = blocks.count()
        shown[tag] = {
            (
                block.locator(".opblock-summary-method").inner_text().strip().upper(),
                block.locator(".opblock-summary-path").get_attribute("data-path"),
            )
            for block in blocks.all()
        }
    assert shown == expected
    assert counts == Counter({tag: len(ops) for tag, ops in expected.items()})


def test_nothing_is_loaded_from_outside_the_local_front(docs_page, base):
    assert docs_page.requests, "the page made no request at all"
    outside = [url for url in docs_page.requests if not url.startswith(f"{base}/")]
    assert outside == []
    assert f"{base}/openapi.json" in docs_page.requests


def test_accessibility_of_our_page(docs_page):
    """axe-core (the copy axe-playwright-python ships) over the rendered page. The page's own parts (language,
    title, viewport, one main landmark) must pass; Swagger UI's own markup has violations we cannot fix here
    (colour contrast of its badges and buttons, heading order, an unlabelled servers select), printed only."""
    axe = pytest.importorskip("axe_playwright_python.sync_playwright", reason="axe-playwright-python not installed")
    results = axe.Axe().run(docs_page.page).response
    summary = {v["id"]: (v["impact"], len(v["nodes"])) for v in results["violations"]}
    print("axe-core", results["testEngine"]["version"], "violations:", json.dumps(summary))
    assert {rule for rule in summary if rule in OWN_AXE_RULES} == set(), summary
    page = docs_page.page
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.title() == "PracticePay API"


def test_a_payment_route_shows_its_example_body_and_its_202_and_503(docs_page, document):
    """Opening POST /invoices/{invoice_id}/payments shows the document's first request example as the body to
    send, and the 202 (not decided yet) and 503 (Splash did not answer) answers beside the others."""
    page, path = docs_page.page, "/invoices/{invoice_id}/payments"
    operation = document["paths"][path]["post"]
    name = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    block = page.locator(".opblock-post").filter(has=page.locator(f'.opblock-summary-path[data-path="{path}"]'))
    expect(block).to_have_count(1)
    block.locator(".opblock-summary").first.click()
    example = block.locator(".opblock-section-request-body .highlight-code")
    expect(example).to_be_visible(timeout=RENDER_WAIT_MS)
    assert json.loads(example.inner_text()) == document["components"]["schemas"][name]["examples"][0]
    statuses = {s.strip() for s in block.locator(".responses-table td.response-col_status").all_inner_texts()}
    statuses.discard("Code")  # the table's header cell
    assert statuses == set(operation["responses"])
    assert {"201", "202", "402", "503"} <= statuses
