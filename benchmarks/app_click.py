"""Click-to-overlay in the browser and the gradio_client round trip of the app's Explain.

Launches the app in-process on 127.0.0.1 (the repo's checkpoints; a temporary TORCH_HOME
holding a *random-weights* ImageNet ResNet-50, which times the same as the trained one) and
measures, for the shipped ``resnet18-fashion-mnist`` and for ResNet-50 (3 methods: cam,
gradcam, gradcampp; top-5), after warm-up:

* the gradio_client round trip of ``/explain`` (overlays in the response, no downloads);
* the same plus fetching the shown images over one keep-alive connection (what a page does);
* in headless Chromium at 1400x1000: click on Explain -> all overlays rendered;
* the library call alone (explain_images + drawing the overlays).

Medians and ratios within this one run. Target (issue 13): median <= 0.25 s for ResNet-18.

    python benchmarks/app_click.py --runs 15
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 0.25
METHODS = ["cam", "gradcam", "gradcampp"]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--proxy-server=http://127.0.0.1:9",
        "--proxy-bypass-list=127.0.0.1;localhost"]


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--image", default=str(ROOT / "samples" / "fashion-mnist" / "9-ankle-boot-test0.png"))
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="camviz-click-"))
    os.environ["TORCH_HOME"] = str(work / "torch_home")
    os.environ["GRADIO_TEMP_DIR"] = str(work / "gradio")

    import httpx
    import torch
    import torchvision
    from gradio_client import Client, handle_file
    from playwright.sync_api import sync_playwright

    from camviz.app import PREDICTED, build_app, launch
    from camviz.explainer import explain_images
    from camviz.hub import imagenet_cache_path, load_model
    from camviz.images import load_image
    from camviz.outputs import overlay_of

    weights = imagenet_cache_path("resnet50")
    weights.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet50().state_dict(), weights)

    demo = build_app(ROOT / "checkpoints", samples_dir=work / "none", offline=True)
    _, url, _ = launch(demo, host="127.0.0.1", prevent_thread_lock=True, quiet=True)
    rows = []
    try:
        client = Client(url, verbose=False, download_files=False)
        for model in ("resnet18-fashion-mnist", "resnet50"):
            request = (handle_file(args.image), model, "", METHODS, PREDICTED, 0.5, "jet")
            loaded = load_model(model, checkpoints_dir=ROOT / "checkpoints")
            img = load_image(args.image)

            def library():
                r = explain_images(loaded, [img], methods=METHODS, predictions=5,
                                   skip_inapplicable=True)[0]
                return [overlay_of(r, method=m) for m in r.methods]

            with httpx.Client() as http:
                def with_images():
                    out = client.predict(*request, api_name="/explain")
                    for item in out[0]:
                        http.get(item["image"]["url"]).raise_for_status()

                timed = {}
                for name, call in (("library call + overlays", library),
                                   ("gradio_client /explain", lambda: client.predict(*request, api_name="/explain")),
                                   ("  + fetching the shown images", with_images)):
                    for _ in range(3):
                        call()
                    ts = []
                    for _ in range(args.runs):
                        t0 = time.perf_counter()
                        call()
                        ts.append(time.perf_counter() - t0)
                    timed[name] = ts
            timed["browser click -> overlays shown"] = _browser(url, model, args.image, args.runs)
            lib = _median(timed["library call + overlays"])
            rows += [(model, name, _median(ts), _median(ts) / lib) for name, ts in timed.items()]
    finally:
        demo.close()

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from machine import header
    print(header("benchmarks/app_click.py " + " ".join(argv if argv is not None else sys.argv[1:])))
    print(f"image {args.image}, methods {', '.join(METHODS)}, top-5, {args.runs} runs after 3 "
          f"warm-up, torch threads {torch.get_num_threads()}; resnet50 has random weights")
    print(f"{'model':24} {'what':34} {'median s':>9} {'x library':>10}")
    for model, name, med, ratio in rows:
        print(f"{model:24} {name:34} {med:9.3f} {ratio:10.1f}")
    r18 = {name: med for model, name, med, _ in rows if model == "resnet18-fashion-mnist"}
    for name in ("gradio_client /explain", "browser click -> overlays shown"):
        print(f"target {name} <= {TARGET_S} s for resnet18-fashion-mnist: "
              f"{'met' if r18[name] <= TARGET_S else 'NOT met'} ({r18[name]:.3f} s)")
    return 0


def _browser(url: str, model: str, image: str, runs: int) -> list[float]:
    from playwright.sync_api import expect, sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.set_input_files("#explain-image input[type=file]", image)
        expect(page.locator("#explain-image img")).to_be_visible()
        combo = page.get_by_role("combobox", name="Model", exact=True)
        combo.click()
        page.get_by_role("option", name=model if model != "resnet50" else "resnet50 (ImageNet)",
                         exact=True).click()
        combo.blur()
        expect(page.locator("#explain-model-info")).to_contain_text(model, timeout=60_000)
        times = []
        box = page.locator("#explain-alpha input[type=number]")
        for i in range(runs + 3):
            # a new alpha each time: identical overlays would keep Gradio's cached image URLs
            box.fill(f"{0.3 + 0.05 * (i % 8):.2f}")
            box.press("Enter")
            page.wait_for_timeout(100)
            before = page.evaluate("() => [...document.querySelectorAll('#explain-gallery img')]"
                                   ".map(e => e.src).join('|')")
            t0 = time.perf_counter()
            page.click("#explain-run")
            page.wait_for_function(
                """(before) => { const imgs = [...document.querySelectorAll('#explain-gallery img')];
                    return imgs.length >= 2 && imgs.map(e => e.src).join('|') !== before
                        && imgs.every(e => e.complete && e.naturalWidth > 0); }""",
                arg=before, timeout=60_000, polling="raf")
            if i >= 3:
                times.append(time.perf_counter() - t0)
        browser.close()
    return times


if __name__ == "__main__":
    sys.exit(main())
