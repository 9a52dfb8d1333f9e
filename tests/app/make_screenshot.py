"""Regenerate docs/app.png: the Explain tab with a result, shot in headless Chromium.

Not a test (pytest does not collect it). Run from the repo root, e.g.

    python tests/app/make_screenshot.py --checkpoints-dir checkpoints \\
        --model resnet18-fashion-mnist --image samples/fashion-mnist/<file>.png

Like the browser test it needs Debian's /usr/bin/chromium and makes no outbound connection.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from test_app_browser import ARGS, CHROMIUM, choose  # same offline flags as the test


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoints-dir", required=True)
    p.add_argument("--model", required=True, help="a checkpoint name in --checkpoints-dir")
    p.add_argument("--image", required=True)
    p.add_argument("--layer", help="a layer option's label prefix, e.g. 'layer3 ·' (default: CAM layer)")
    p.add_argument("--out", default="docs/app.png")
    args = p.parse_args(argv)
    os.environ.setdefault("GRADIO_TEMP_DIR", tempfile.mkdtemp(prefix="camviz-shot-"))

    import re

    from playwright.sync_api import expect, sync_playwright

    from camviz.app import build_app, launch
    demo = build_app(args.checkpoints_dir)
    _, url, _ = launch(demo, host="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(viewport={"width": 1360, "height": 900}, device_scale_factor=1)
            page.goto(url)
            page.set_input_files("#explain-image input[type=file]", args.image)
            choose(page, "Model", args.model)
            if args.layer:
                choose(page, "Target layer", re.compile("^" + re.escape(args.layer)))
            page.click("#explain-run")
            try:
                expect(page.locator("#explain-gallery img").first).to_be_visible(timeout=60_000)
            except AssertionError:   # say why: the app's error toasts
                raise SystemExit(f"no result: {page.locator('.toast-body').all_inner_texts()}") from None
            page.wait_for_timeout(500)  # let the images finish painting
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=args.out, full_page=True)
            browser.close()
    finally:
        demo.close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
