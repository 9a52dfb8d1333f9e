"""The app makes no outbound connection: not at start, not per request.

`camviz app` runs in a child process started exactly as a user starts it, with none of
gradio's or the Hugging Face hub's offline/telemetry variables in its environment: the app
must set them itself. Every connection or name look-up the child attempts to a
non-loopback address is refused and recorded; the test's own client (in this process) is
not what is tested.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CAT = Path(__file__).resolve().parents[2] / "samples" / "cat.jpg"
APP_ENV = ("GRADIO_ANALYTICS_ENABLED", "HF_HUB_OFFLINE", "HF_HUB_DISABLE_TELEMETRY")

CHILD = """
import json, signal, socket, sys
LOCAL = {"127.0.0.1", "localhost", "::1", "0.0.0.0", None}
attempts, out = [], sys.argv[1]
real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

def connect(sock, address):
    if isinstance(address, tuple) and address[0] not in LOCAL:
        attempts.append(["connect", str(address[0])])
        raise OSError("test: outbound connection blocked")
    return real_connect(sock, address)

def getaddrinfo(host, *args, **kwargs):
    if host not in LOCAL:
        attempts.append(["dns", str(host)])
        raise socket.gaierror("test: look-up blocked")
    return real_getaddrinfo(host, *args, **kwargs)

def stop(*_):
    with open(out, "w") as f:
        json.dump(attempts, f)
    raise SystemExit(0)

socket.socket.connect, socket.getaddrinfo = connect, getaddrinfo
signal.signal(signal.SIGTERM, stop)
from camviz.cli import main
try:
    main(sys.argv[2:])
finally:
    stop()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode(errors="replace")[-2000:]
        try:
            with urllib.request.urlopen(url + "config", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"the app did not answer at {url} within {seconds} s")


def test_no_outbound_connection_at_start_or_per_request(app_dirs, tmp_path, monkeypatch):
    # this process's client only: keep it from looking up the hub (not what is tested)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    port, record = free_port(), tmp_path / "attempts.json"
    env = {k: v for k, v in os.environ.items() if k not in APP_ENV}
    env.update(GRADIO_TEMP_DIR=str(tmp_path / "gradio"), TORCH_HOME=str(tmp_path / "torch_home"),
               NO_PROXY="127.0.0.1,localhost")
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(record), "app", "--checkpoints-dir", str(app_dirs.checkpoints),
         "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url, proc)
        from gradio_client import Client, handle_file

        from camviz.app import PREDICTED
        client = Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
        args = (handle_file(str(CAT)), "resnet14-tiny", "", ["gradcam"], PREDICTED, 0.5, "jet")
        _, label, _, _ = client.predict(*args, api_name="/explain")
        maps, _ = client.predict(*args, api_name="/downloads")
        client.predict("lenet5-tiny", api_name="/choose_model")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert len(label["confidences"]) == 5 and len(maps) == 1  # the requests did run
    assert json.loads(record.read_text()) == []
