"""The Explain and Compare tabs as a new user meets them, in headless Chromium at 1400x1000:
each check here was a bug seen that way (issue 13, item 2)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
CAT = SAMPLES / "cat.jpg"
VIEW_H = 1000


def _open(server, page, image=CAT):
    from playwright.sync_api import expect
    page.goto(server.url)
    if image is not None:
        page.set_input_files("#explain-image input[type=file]", str(image))
        expect(page.locator("#explain-image img")).to_be_visible()


def test_explain_button_and_captioned_samples_above_the_fold(server, browser_page):
    page = browser_page
    _open(server, page, image=None)
    run = page.locator("#explain-run").bounding_box()
    assert run["y"] + run["height"] <= VIEW_H
    body = page.locator("body").inner_text()
    assert "trouser (fashion-mnist)" in body and "cat" in body
    assert "mask" not in body.lower()          # object masks are not offered as samples
    first = page.get_by_text("trouser (fashion-mnist)").first.bounding_box()
    assert first is not None and first["y"] + first["height"] <= VIEW_H


def test_each_method_on_its_own_all_overlays_visible_and_model_input_shown(server, browser_page,
                                                                           choose):
    from playwright.sync_api import expect
    page = browser_page
    _open(server, page)
    choose(page, "Model", "resnet14-tiny")
    expect(page.locator("#explain-model-info")).to_contain_text("resnet14-tiny", timeout=30_000)
    page.wait_for_timeout(1500)    # the layer list follows the model one event later
    choose(page, "Target layer", re.compile(r"^layer3 · "))
    page.get_by_label("Score-CAM").check()
    page.click("#explain-run")
    status = page.locator("#explain-status")
    expect(status).to_contain_text("CAM does not apply here", timeout=60_000)
    expect(status).to_contain_text("this colour picture was turned grey")
    assert page.locator("[data-testid=toast-body]").count() == 0      # no error toast
    overlays = page.locator("#explain-gallery img")
    expect(overlays).to_have_count(3)
    gallery = page.locator("#explain-gallery").bounding_box()
    for i in range(3):                        # the second row is not cut off
        box = overlays.nth(i).bounding_box()
        assert box["y"] + box["height"] <= gallery["y"] + gallery["height"] + 1
    # ... and one row leaves no empty band below it (Gradio kept a 450 px floor)
    last = overlays.nth(2).bounding_box()
    assert gallery["y"] + gallery["height"] - (last["y"] + last["height"]) < 60
    seen = page.locator("#explain-seen img")
    expect(seen).to_be_visible()
    assert seen.bounding_box()["width"] >= 150   # a 28x28 input shown large, not as a stamp


def test_a_text_file_is_refused_at_upload(server, browser_page, tmp_path):
    from playwright.sync_api import expect
    page = browser_page
    page.goto(server.url)
    bad = tmp_path / "notes.png"
    bad.write_text("these are notes, not pixels\n")
    page.set_input_files("#explain-image input[type=file]", str(bad))
    expect(page.locator("[data-testid=toast-body]").first).to_contain_text(
        "is not an image file camviz can read", timeout=30_000)
    expect(page.locator("#explain-image img")).to_have_count(0)   # no broken preview


def test_layer_list_blocks_first_default_once_and_show_all(server, browser_page, choose):
    from playwright.sync_api import expect
    page = browser_page
    _open(server, page, image=None)
    choose(page, "Model", "resnet14-tiny")
    expect(page.locator("#explain-model-info")).to_contain_text("resnet14-tiny")
    combo = page.get_by_role("combobox", name="Target layer", exact=True)
    combo.click()
    blocks = [t.split("\n")[-1] for t in page.get_by_role("option").all_inner_texts()]
    combo.blur()
    assert blocks[0].startswith("(CAM layer) layer4") and not [b for b in blocks if "BatchNorm" in b]
    assert sum("layer4 " in b or b.endswith("layer4") for b in blocks) == 1   # default once
    page.get_by_label("show all layers").check()
    page.wait_for_timeout(1500)
    combo.click()
    every = [t.split("\n")[-1] for t in page.get_by_role("option").all_inner_texts()]
    combo.blur()
    assert len(every) > 2 * len(blocks) and any("BatchNorm" in b for b in every)


def _compare_three_by_two(server, page):
    """Compare: the cat through the 3 tiny models x Grad-CAM, Grad-CAM++ (6 overlays)."""
    from playwright.sync_api import expect
    page.goto(server.url)
    page.get_by_role("tab", name="Compare").click()
    page.set_input_files("#compare-image input[type=file]", str(CAT))
    models = page.get_by_role("combobox", name="Models", exact=True)
    for name in ("lenet5-tiny", "resnet14-tiny", "resnet14-tiny2"):
        if not page.locator("#compare-models").get_by_text(name, exact=True).count():
            models.click()
            page.get_by_role("option", name=name, exact=True).click()
            models.blur()
    page.locator("#compare-methods").get_by_role("checkbox", name="Grad-CAM++", exact=True).check()
    page.click("#compare-run")
    expect(page.locator("#compare-status")).to_contain_text("3 model(s) × 2 method(s): 6 maps",
                                                            timeout=60_000)
    expect(page.locator("#compare-gallery img")).to_have_count(6)
    expect(page.locator("#compare-gallery .caption-label")).to_have_count(6)


def test_compare_three_models_by_two_methods(server, browser_page):
    from playwright.sync_api import expect
    page = browser_page
    _compare_three_by_two(server, page)
    # each caption (model · layer · method · class p) is readable whole, not cut by an ellipsis
    captions = page.locator("#compare-gallery .caption-label")
    for i in range(6):
        cut = captions.nth(i).evaluate("e => e.scrollWidth > e.clientWidth + 1")
        assert not cut, captions.nth(i).inner_text()
    expect(page.locator("#compare-grid img")).to_be_visible()


# the box of each gallery image and of its caption, in page pixels
_BOXES = """sel => [...document.querySelectorAll(sel + ' .thumbnail-item')].map(item => {
    const box = e => { const b = e.getBoundingClientRect();
                       return {top: b.top, bottom: b.bottom, left: b.left, right: b.right}; };
    return {img: box(item.querySelector('img')), caption: box(item.querySelector('.caption-label')),
            text: item.querySelector('.caption-label').innerText};
})"""


def _explain_three_maps(server, page, choose) -> None:
    """The Explain tab on resnet14-tiny, clicked, its three overlays shown."""
    from playwright.sync_api import expect
    _open(server, page)
    choose(page, "Model", "resnet14-tiny")
    expect(page.locator("#explain-model-info")).to_contain_text("resnet14-tiny")
    page.click("#explain-run")
    expect(page.locator("#explain-gallery img")).to_have_count(3, timeout=60_000)


@pytest.mark.parametrize("gallery", ["#compare-gallery", "#explain-gallery"])
def test_gallery_captions_sit_below_their_overlays(server, browser_page, choose, gallery):
    """A wrapped caption used to be drawn over the bottom ~40 px of its overlay."""
    from playwright.sync_api import expect
    page = browser_page
    if gallery == "#compare-gallery":
        _compare_three_by_two(server, page)
    else:
        _explain_three_maps(server, page, choose)
        expect(page.locator("#explain-gallery .caption-label")).to_have_count(3, timeout=60_000)
    page.wait_for_timeout(300)                 # the images' layout settles after decoding
    outer = page.locator(gallery).bounding_box()
    items = page.evaluate(_BOXES, gallery)
    assert items
    for it in items:
        img, cap = it["img"], it["caption"]
        overlap = (min(img["bottom"], cap["bottom"]) - max(img["top"], cap["top"]) > 0.5
                   and min(img["right"], cap["right"]) - max(img["left"], cap["left"]) > 0.5)
        assert not overlap, (it["text"], img, cap)
        assert img["bottom"] - 1 <= cap["top"]                       # below, not beside
        assert cap["bottom"] <= outer["y"] + outer["height"] + 1      # and not cut off


_LABEL_AND_IMAGES = """(sel) => { const root = document.querySelector(sel);
  const box = e => { const b = e.getBoundingClientRect();
                     return {left: b.left, top: b.top, right: b.right, bottom: b.bottom}; };
  const label = root.querySelector('[data-testid=block-label]');
  return {label: label && box(label), imgs: [...root.querySelectorAll('img')].map(box)}; }"""


@pytest.mark.parametrize("block", ["#compare-grid", "#compare-gallery", "#explain-gallery"])
def test_block_labels_sit_above_the_pictures(server, browser_page, choose, block):
    """Gradio floats a block's label over its picture's top-left corner: on the Compare grid it
    hid the start of the title (the image's name)."""
    page = browser_page
    if block.startswith("#compare"):
        _compare_three_by_two(server, page)
    else:
        _explain_three_maps(server, page, choose)
    page.wait_for_timeout(300)                 # the images' layout settles after decoding
    found = page.evaluate(_LABEL_AND_IMAGES, block)
    label, imgs = found["label"], found["imgs"]
    assert label is not None and imgs
    for img in imgs:
        overlap = (min(img["bottom"], label["bottom"]) - max(img["top"], label["top"]) > 0.5
                   and min(img["right"], label["right"]) - max(img["left"], label["left"]) > 0.5)
        assert not overlap, (block, label, img)


def test_compare_predictions_table_fits_without_scrolling(server, browser_page):
    """The top-5 table used to scroll sideways at 1400 px ("top 5" hidden)."""
    page = browser_page
    _compare_three_by_two(server, page)
    wide = page.evaluate("""() => [...document.querySelectorAll('#compare-table *')]
        .filter(e => e.checkVisibility({visibilityProperty: true}))   // not Gradio's sizing copy
        .filter(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'visible')
        .map(e => [e.tagName, e.innerText, e.scrollWidth, e.clientWidth])""")
    assert wide == []
    table = page.locator("#compare-table").bounding_box()
    heads = page.locator("#compare-table th")
    assert heads.count() >= 6
    for i in range(heads.count()):            # every column whole inside the component
        box = heads.nth(i).bounding_box()
        assert box["x"] >= table["x"] - 1 and box["x"] + box["width"] <= table["x"] + table["width"] + 1
    assert "top 5" in page.locator("#compare-table").inner_text()


def test_faithfulness_plot_with_aucs_on_demand(server, browser_page):
    from playwright.sync_api import expect
    page = browser_page
    _open(server, page)
    page.get_by_text("Should I trust these maps?").click()
    page.click("#explain-faith")
    expect(page.locator("#explain-faith-plot img")).to_be_visible(timeout=60_000)
    table = page.locator("#explain-faith-table")
    expect(table).to_contain_text("deletion AUC")
    expect(table).to_contain_text("random map")
    expect(table).to_contain_text("sanity")


def test_a_small_upload_fills_its_preview(server, browser_page):
    page = browser_page
    _open(server, page, image=SAMPLES / "fashion-mnist" / "9-ankle-boot-test0.png")
    box = page.locator("#explain-image img").bounding_box()
    assert box["width"] >= 150 and box["height"] >= 150      # not a 28-pixel stamp


def test_offline_an_uncached_imagenet_model_says_so_in_the_page(server, browser_page, choose):
    """The test server runs offline: choosing an uncached ImageNet model gives the clear
    message in the info line (not the previous model's line, no 'Error' badges)."""
    from playwright.sync_api import expect
    page = browser_page
    _open(server, page, image=None)
    choose(page, "Model", "resnet50 (weights not cached; offline)")
    info = page.locator("#explain-model-info")
    expect(info).to_contain_text("resnet50 cannot be opened", timeout=30_000)
    expect(info).to_contain_text("is offline (camviz app --offline or CAMVIZ_OFFLINE=1)")
    assert page.locator("#explain-layer").get_by_text("Error").count() == 0
