"""End to end in real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from camviz.checkpoint import load_checkpoint
from camviz.explainer import explain_images
from camviz.images import load_image

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CAT = Path(__file__).resolve().parents[2] / "samples" / "cat.jpg"
# Offline and quiet: the dead proxy stops Chromium's background look-ups (see
# /work/shared/BROWSER_TESTING.md); the app itself is reached directly.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--proxy-server=http://127.0.0.1:9",
        "--proxy-bypass-list=127.0.0.1;localhost"]


@pytest.fixture
def page():
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium is not installed at /usr/bin/chromium "
                    "(apt-get install chromium); the browser test needs it")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()


def choose(page, box: str, option: str | re.Pattern) -> None:
    combo = page.get_by_role("combobox", name=box, exact=True)
    combo.click()
    page.get_by_role("option", name=option, exact=isinstance(option, str)).click()
    combo.blur()


def test_explain_in_the_browser(server, page, tmp_path):
    from playwright.sync_api import expect
    loaded = load_checkpoint(server.dirs.checkpoints / "resnet14-tiny.safetensors")
    top = explain_images(loaded, [load_image(CAT)], layers="layer3", methods=["gradcam"])[0].predictions[0][0]

    page.goto(server.url)
    page.set_input_files("#explain-image input[type=file]", str(CAT))
    expect(page.locator("#explain-image img")).to_be_visible()
    choose(page, "Model", "resnet14-tiny")
    layer = page.get_by_role("combobox", name="Target layer", exact=True)
    expect(layer).to_have_value("(CAM layer) layer4")  # the model's CAM layer
    choose(page, "Target layer", re.compile(r"^layer3 · Sequential · \d+×7×7$"))
    page.click("#explain-run")

    expect(page.locator("#explain-label [data-testid=label-output-value]")).to_have_text(top, timeout=30_000)
    expect(page.locator("#explain-status")).to_contain_text("at layer3 of resnet14-tiny")
    overlays = page.locator("#explain-gallery img")
    expect(overlays).to_have_count(2)  # gradcam, gradcampp (CAM needs the GAP head's input)
    expect(overlays.first).to_be_visible()
    assert overlays.first.evaluate("img => img.complete && img.naturalWidth") == 320
    assert page.locator("[data-testid=toast-body]").count() == 0
    page.screenshot(path=str(tmp_path / "explain.png"), full_page=True)
    assert (tmp_path / "explain.png").stat().st_size > 10_000


def test_explain_clicked_right_after_a_model_change_explains_the_new_model(server, page):
    """The layer list follows the model one round trip later; a click in between must not
    send the old model's layer with the new model (it used to fail with 'unknown layer')."""
    from playwright.sync_api import expect
    page.goto(server.url)
    page.set_input_files("#explain-image input[type=file]", str(CAT))
    expect(page.locator("#explain-image img")).to_be_visible()
    model = page.get_by_role("combobox", name="Model", exact=True)
    first = model.input_value()
    other = "resnet14-tiny" if first != "resnet14-tiny" else "lenet5-tiny"
    choose(page, "Model", other)
    page.click("#explain-run")    # no wait for the layer list
    expect(page.locator("#explain-status")).to_contain_text(f"of {other}", timeout=30_000)
    assert page.locator("[data-testid=toast-body]").count() == 0
