"""Regenerate docs/app.png: the Explain tab after one click, as a new user sees it.

    python docs/figures/app_screenshot.py            # -> docs/app.png

The app as `camviz app` serves it (shipped checkpoints, offline), Debian's headless Chromium at
1400x1000 (`apt-get install chromium`), the Fashion-MNIST ankle-boot sample, the default
model (the README's quick-start `resnet18-fashion-mnist`) and the default methods.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from camviz.app import build_app, launch

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
        "--disable-background-networking", "--proxy-server=http://127.0.0.1:9",
        "--proxy-bypass-list=127.0.0.1;localhost"]
IMAGE = ROOT / "samples" / "fashion-mnist" / "9-ankle-boot-test0.png"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "docs" / "app.png"))
    args = p.parse_args()
    demo = build_app(ROOT / "checkpoints", samples_dir=ROOT / "samples", offline=True)
    _, url, _ = launch(demo, host="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.set_input_files("#explain-image input[type=file]", str(IMAGE))
            expect(page.locator("#explain-image img")).to_be_visible()
            page.click("#explain-run")
            expect(page.locator("#explain-status")).to_contain_text("Explained", timeout=60_000)
            expect(page.locator("#explain-gallery img").first).to_be_visible()
            page.wait_for_timeout(500)   # the model-input image decodes last
            page.screenshot(path=args.out, full_page=True)
            browser.close()
    finally:
        demo.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
