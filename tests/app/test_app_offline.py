"""The app makes no outbound connection: not at start, not per request."""

from __future__ import annotations

import socket
from pathlib import Path

LOCAL = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}
CAT = Path(__file__).resolve().parents[2] / "samples" / "cat.jpg"


def test_no_outbound_connection_at_start_or_per_request(app_dirs, monkeypatch, tmp_path):
    attempts = []
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock, address):
        if isinstance(address, tuple) and address[0] not in LOCAL:
            attempts.append(("connect", address))
            raise OSError(f"test: outbound connection to {address} blocked")
        return real_connect(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if host not in LOCAL and host is not None:
            attempts.append(("dns", host))
            raise socket.gaierror(f"test: look-up of {host} blocked")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))

    # camviz.app first, as `camviz app` does: it must itself set gradio's and the hub's offline
    # and telemetry variables before gradio (and gradio_client) are imported; no conftest helps.
    from camviz.app import PREDICTED, build_app, launch  # noqa: I001
    from gradio_client import Client, handle_file
    demo = build_app(app_dirs.checkpoints, samples_dir=CAT.parent)
    _, url, _ = launch(demo, host="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
        _, label, _, maps, _ = client.predict(handle_file(str(CAT)), "resnet14-tiny", "", ["gradcam"],
                                              PREDICTED, 0.5, "jet", api_name="/explain")
        client.predict("lenet5-tiny", api_name="/choose_model")
    finally:
        demo.close()
    assert len(label["confidences"]) == 5 and len(maps) == 1  # the requests did run
    assert attempts == []
