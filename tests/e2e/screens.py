"""What every screen a browser test visits must be: accessible (axe-core finds no serious or critical violation)
and photographed for review, each width as one tall viewport (a full-page capture leaves PayFields' cross-origin
frames blank). The pictures go under .local/screenshots/ (not committed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def assert_accessible(page, name: str) -> None:
    """axe-core on the loaded screen (PayFields' frames included: it waits for the network to go idle first)."""
    axe = pytest.importorskip("axe_playwright_python.sync_playwright")
    page.wait_for_load_state("networkidle")
    results = axe.Axe().run(page).response
    bad = [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], f"{name}: {json.dumps(bad)}"


def photograph(page, name: str, shots: Path, widths: tuple[int, ...], height: int) -> None:
    """`<name>-<width>.png` at each width, then the viewport back at the first width and `height`."""
    shots.mkdir(parents=True, exist_ok=True)
    for width in widths:
        page.set_viewport_size({"width": width, "height": height})
        whole = page.evaluate("document.documentElement.scrollHeight")
        page.set_viewport_size({"width": width, "height": whole})
        page.screenshot(path=str(shots / f"{name}-{width}.png"))
    page.set_viewport_size({"width": widths[0], "height": height})
