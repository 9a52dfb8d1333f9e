"""ImageNet models in the app: downloaded once, with progress, when chosen; refused offline.

A local HTTP server stands in for torchvision's weights URL (nothing leaves the machine);
the weights it serves are a random ResNet-18's.
"""

from __future__ import annotations

import functools
import http.server
import threading
import time
from pathlib import Path

import pytest
import torch
import torchvision
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from camviz.app import ModelCache, build_app, launch
from camviz.errors import ModelUnavailableError
from camviz.hub import imagenet_cache_path

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
CAT = SAMPLES / "cat.jpg"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def weights_server(tmp_path_factory):
    """Serves ``resnet18.pth`` (a random ResNet-18 state dict) on 127.0.0.1; counts requests."""
    root = tmp_path_factory.mktemp("www")
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18().state_dict(), root / "resnet18.pth")
    hits = []

    class Handler(_Quiet):
        def do_GET(self):
            hits.append(self.path)
            super().do_GET()

        def copyfile(self, source, outputfile):
            # slow enough (about 3 s) for the page's progress bar to be seen
            while block := source.read(1 << 20):
                outputfile.write(block)
                time.sleep(0.06)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=root))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}/resnet18.pth", hits, root
    finally:
        httpd.shutdown()


@pytest.fixture
def online(monkeypatch, weights_server, torch_home, tmp_path):
    url, hits, _ = weights_server
    monkeypatch.setattr("camviz.hub.weights_url", lambda name: url)
    monkeypatch.delenv("CAMVIZ_OFFLINE", raising=False)
    hits.clear()
    return hits


def test_the_cache_downloads_once_with_progress(online, tmp_path):
    cache = ModelCache(tmp_path / "none", torch.device("cpu"), offline=False)
    seen = []
    view = cache.get("resnet18", lambda done, total: seen.append((done, total)))
    path = imagenet_cache_path("resnet18")
    assert path.is_file() and view.loaded.source == "imagenet" and len(view.loaded.classes) == 1000
    size = path.stat().st_size
    assert seen[0] == (0, size) and seen[-1] == (size, size)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    torch.manual_seed(0)
    want = torchvision.models.resnet18().state_dict()
    got = view.loaded.model.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)   # the served weights, loaded
    cache.get("resnet18", lambda *a: seen.append("again"))
    assert len(online) == 1 and "again" not in seen           # downloaded once


def test_a_failed_download_is_one_clear_message(monkeypatch, torch_home, tmp_path):
    monkeypatch.setattr("camviz.hub.weights_url", lambda name: "http://127.0.0.1:9/resnet18.pth")
    cache = ModelCache(tmp_path, torch.device("cpu"), offline=False)
    with pytest.raises(ModelUnavailableError, match=r"ImageNet weights for 'resnet18' could not be "
                                                    r"downloaded to .*; check the connection"):
        cache.get("resnet18", lambda *a: None)
    assert not imagenet_cache_path("resnet18").exists()      # no partial file left


def test_offline_by_environment_variable(monkeypatch, weights_server, torch_home, tmp_path):
    monkeypatch.setenv("CAMVIZ_OFFLINE", "1")
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    demo = build_app(tmp_path)
    model = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "explain-model")
    labels = {v: lab for lab, v in model.choices}
    assert labels["resnet18"] == "resnet18 (weights not cached; offline)"


def test_choosing_an_uncached_model_in_the_app_downloads_it_then_explains(online, monkeypatch,
                                                                           tmp_path):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    demo = build_app(tmp_path / "no-checkpoints", samples_dir=SAMPLES, offline=False)
    model = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "explain-model")
    assert {v: lab for lab, v in model.choices}["resnet18"] == \
        "resnet18 (ImageNet, downloaded when chosen)"
    _, url, _ = launch(demo, host="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False, download_files=str(tmp_path / "dl"))
        job = client.submit("resnet18", api_name="/choose_model")
        layers, _, info = job.result(timeout=120)
        assert "**resnet18**" in info and layers["value"] == "(CAM layer)"
        gallery, label, status, *_ = client.predict(
            handle_file(str(CAT)), "resnet18", "", ["gradcam"], "(predicted class)", 0.5, "jet",
            api_name="/explain")
        assert len(gallery) == 1 and len(label["confidences"]) == 5 and "of **resnet18**" in status
        assert len(online) == 1                                  # one download for both calls
        with pytest.raises(AppError, match="not in the list of choices"):
            client.predict("resnet18.pth", api_name="/choose_model")
    finally:
        demo.close()


@pytest.mark.browser
def test_the_page_shows_the_download_then_the_explanation(online, monkeypatch, tmp_path,
                                                          browser_page, choose):
    """Issue 13: choosing an uncached ImageNet model with downloads allowed shows progress in
    the page, then the model is explained."""
    from playwright.sync_api import expect
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    demo = build_app(tmp_path / "no-checkpoints", samples_dir=SAMPLES, offline=False)
    _, url, _ = launch(demo, host="127.0.0.1", prevent_thread_lock=True, quiet=True)
    page = browser_page
    try:
        page.goto(url)
        page.set_input_files("#explain-image input[type=file]", str(CAT))
        choose(page, "Model", "resnet18 (ImageNet, downloaded when chosen)")
        expect(page.get_by_text("downloading resnet18 weights").first).to_be_visible(timeout=30_000)
        expect(page.locator("#explain-model-info")).to_contain_text("resnet18", timeout=60_000)
        page.click("#explain-run")
        expect(page.locator("#explain-status")).to_contain_text("of resnet18", timeout=60_000)
        expect(page.locator("#explain-gallery img")).to_have_count(3)
        assert len(online) == 1
    finally:
        demo.close()
