"""Round-trip latency of the app's explain request, through gradio_client.

Launches the app in-process on 127.0.0.1 with a checkpoints folder and sends the same
explain request (three methods: cam, gradcam, gradcampp; top-5 predictions) ``--runs``
times after a warm-up, in three ways:

* the request alone (``download_files=False``): what the target is about;
* the request, then every result file (3 overlays in the gallery, 3 ``.npy``, 3 ``.png``)
  fetched over one keep-alive connection, as a browser does;
* gradio_client's default, which downloads each file with a new ``httpx`` client (about
  45 ms each here, nearly all of it building an SSL context), for reference.

It prints median and 90th percentile beside the library call alone (``explain_images`` +
PNG encoding), so the ratios show what Gradio adds. Target: median request <= 0.3 s on CPU.

    python benchmarks/app_latency.py --model resnet18-fashion-mnist --checkpoints-dir checkpoints

Exits 1 if the named checkpoint is not in the folder (no fallback to another model).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 0.3
METHODS = ["cam", "gradcam", "gradcampp"]


def _fashion_like_image(path: Path) -> Path:
    """A 28x28 grey PNG (a bright 'shirt' block on black), like a Fashion-MNIST sample."""
    import numpy as np
    from PIL import Image
    a = np.zeros((28, 28), np.uint8)
    a[5:24, 8:20] = 200
    a[5:12, 3:25] = 170
    Image.fromarray(a).save(path)
    return path


def _urls(value) -> list[str]:
    """Every file URL in a result (gradio_client with download_files=False)."""
    if isinstance(value, dict):
        return ([value["url"]] if isinstance(value.get("url"), str) else []) + [
            u for v in value.values() if isinstance(v, (dict, list, tuple)) for u in _urls(v)]
    if isinstance(value, (list, tuple)):
        return [u for v in value for u in _urls(v)]
    return []


def _stats(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return statistics.median(times), times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="resnet18-fashion-mnist", help="checkpoint name in the folder")
    p.add_argument("--checkpoints-dir", default="checkpoints", help="folder holding NAME.safetensors")
    p.add_argument("--image", help="image to explain (default: a generated 28x28 grey PNG)")
    p.add_argument("--runs", type=int, default=20, help="timed requests per mode (default: 20)")
    args = p.parse_args(argv)

    ckpt = Path(args.checkpoints_dir) / f"{args.model}.safetensors"
    if not ckpt.is_file():
        print(f"checkpoint '{args.model}' not found: {ckpt} does not exist; pass --model and "
              "--checkpoints-dir of an existing camviz checkpoint", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="camviz-bench-"))
    os.environ.setdefault("GRADIO_TEMP_DIR", str(work / "gradio"))

    import httpx
    from gradio_client import Client, handle_file

    from camviz.app import PREDICTED, build_app, launch
    from camviz.checkpoint import load_checkpoint
    from camviz.explainer import explain_images
    from camviz.images import load_image
    from camviz.viz import encode_png

    image = Path(args.image) if args.image else _fashion_like_image(work / "shirt.png")
    demo = build_app(args.checkpoints_dir, samples_dir=work / "no-samples")
    _, url, _ = launch(demo, host="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        request = (handle_file(str(image)), args.model, "", METHODS, PREDICTED, 0.5, "jet")
        plain = Client(url, verbose=False, download_files=False)
        default = Client(url, verbose=False, download_files=str(work / "dl"))
        with httpx.Client() as http:
            def fetch_all():
                out = plain.predict(*request, api_name="/explain")
                for u in _urls(out):
                    http.get(u).raise_for_status()

            modes = [("request only (target)", lambda: plain.predict(*request, api_name="/explain")),
                     ("request + files, keep-alive", fetch_all),
                     ("gradio_client default downloads",
                      lambda: default.predict(*request, api_name="/explain"))]
            rows = []
            for name, call in modes:
                for _ in range(3):
                    call()
                times = []
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    call()
                    times.append(time.perf_counter() - t0)
                rows.append((name, *_stats(times)))

        loaded = load_checkpoint(ckpt)
        times = []
        for i in range(args.runs + 3):
            t0 = time.perf_counter()
            r = explain_images(loaded, [load_image(image)], methods=METHODS, predictions=5)[0]
            for m in r.methods:
                encode_png(r.overlay(method=m))
            if i >= 3:
                times.append(time.perf_counter() - t0)
        lib = _stats(times)
    finally:
        demo.close()

    from machine import header
    print(header("benchmarks/app_latency.py " + " ".join(argv if argv is not None else sys.argv[1:])))
    print(f"explain request, {args.model} ({ckpt}), methods {', '.join(METHODS)}, top-5, "
          f"{args.runs} runs, torch threads {__import__('torch').get_num_threads()}")
    print(f"{'':34} {'median':>8} {'p90':>8} {'x library':>10} {'x target':>9}")
    for name, med, p90 in rows + [("library call + PNG encoding", *lib)]:
        print(f"{name:34} {med:8.3f} {p90:8.3f} {med / lib[0]:10.1f} {med / TARGET_S:9.2f}")
    ok = rows[0][1] <= TARGET_S
    print(f"target: median request round trip <= {TARGET_S} s: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
