"""Helpers of the fuzz suite: tiny checkpoints, generated bad and odd files, and an
in-process runner of ``camviz.cli.main(argv)`` that captures stdout/stderr (log records
included) and the exit code, so most of the 150+ cases cost milliseconds, not a process."""

from __future__ import annotations

import io
import json
import logging
import struct
import zlib
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from zoo_checkpoints import make_checkpoint


@dataclass
class Result:
    rc: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def run_cli(argv: list[str]) -> Result:
    """``camviz ARGV`` in this process: exit code, stdout, stderr (with warnings logged)."""
    from camviz.cli import main
    out, err = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                rc = main(argv)
            except SystemExit as exit_:
                rc = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        root.removeHandler(handler)
    return Result(rc, out.getvalue(), err.getvalue())


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` (hidden ones included) -> (size, mtime_ns); folders size -1."""
    snap = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        snap[str(p.relative_to(root))] = (-1 if p.is_dir() else st.st_size,
                                          0 if p.is_dir() else st.st_mtime_ns)
    return snap


# ----------------------------------------------------------------------- generated files

def png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG that *declares* width x height (a decompression bomb's header) with no real data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def safetensors_with(path: Path, meta_text: str | None, tensors=None) -> None:
    from safetensors.torch import save_file
    save_file(tensors or {"w": torch.zeros(2)}, str(path),
              metadata=None if meta_text is None else {"camviz": meta_text})


def _images(d: Path) -> None:
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 255, (28, 28), dtype=np.uint8)
    rgb = rng.integers(0, 255, (40, 32, 3), dtype=np.uint8)
    Image.fromarray(gray).save(d / "gray.png")
    Image.fromarray(rgb).save(d / "rgb.png")
    Image.fromarray(rgb).save(d / "photo.jpg", quality=90)
    (d / "empty.png").write_bytes(b"")
    (d / "text.png").write_text("not an image\n")
    (d / "page.jpg").write_text("<html><body>404</body></html>\n")
    full = (d / "rgb.png").read_bytes()
    (d / "trunc.png").write_bytes(full[: len(full) // 2])
    fullj = (d / "photo.jpg").read_bytes()
    (d / "trunc.jpg").write_bytes(fullj[: len(fullj) // 3])
    png_header_only(d / "bomb.png", 10_000, 10_000)
    png_header_only(d / "bigbomb.png", 20_000, 10_000)   # above Pillow's own ceiling
    png_header_only(d / "zero.png", 0, 10)
    (d / "noimages").mkdir()
    (d / "noimages" / "readme.txt").write_text("no images here\n")
    (d / "notes.txt").write_text("a file, not a folder\n")
    np.save(d / "array.npy", gray)
    # odd but legal
    Image.fromarray((rng.integers(0, 65535, (28, 28))).astype(np.uint16)).save(d / "gray16.png")
    Image.fromarray(rgb).convert("CMYK").save(d / "cmyk.jpg")
    Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE).save(d / "palette.png")
    Image.fromarray(rgb).convert("LA").save(d / "la.png")
    Image.fromarray(np.dstack([rgb, rgb[..., :1]])).save(d / "rgba.png")
    exif = Image.Exif()
    exif[0x0112] = 6    # orientation: rotate 90°
    Image.fromarray(rgb).save(d / "exif_rotated.jpg", exif=exif.tobytes())
    Image.fromarray(rng.integers(0, 255, (1, 20000), dtype=np.uint8)).save(d / "wide.png")
    Image.fromarray(gray).save(d / "猫 の写真.png")
    Image.fromarray(gray).save(d / "é ü — space.png")
    Image.fromarray(rgb).save(d / "frames.gif", save_all=True,
                              append_images=[Image.fromarray(255 - rgb)])


def _checkpoints(d: Path) -> None:
    base = make_checkpoint(d / "tiny.safetensors", arch="lenet5")
    make_checkpoint(d / "tinyrgb.safetensors", arch="lenet5", in_channels=3)
    make_checkpoint(d / "pair.safetensors", arch="lenet5", classes=("cat", "dog"), in_channels=3)
    from safetensors import safe_open
    from safetensors.torch import load_file
    with safe_open(str(base), framework="pt") as f:
        meta = json.loads(f.metadata()["camviz"])
    state = load_file(str(base))
    nan_state = {k: (torch.full_like(v, float("nan")) if v.is_floating_point() else v)
                 for k, v in state.items()}
    safetensors_with(d / "nan.safetensors", json.dumps(meta), nan_state)
    safetensors_with(d / "corrupt_meta.safetensors", "{arch: lenet5,", state)
    safetensors_with(d / "no_meta.safetensors", None, state)
    safetensors_with(d / "no_classes.safetensors",
                     json.dumps({k: v for k, v in meta.items() if k != "classes"}), state)
    safetensors_with(d / "two_classes.safetensors", json.dumps({**meta, "classes": ["a", "b"]}), state)
    safetensors_with(d / "nodataset.safetensors",
                     json.dumps({k: v for k, v in meta.items() if k != "dataset"}), state)
    safetensors_with(d / "future.safetensors", json.dumps({**meta, "format_version": 99}), state)
    safetensors_with(d / "alien_arch.safetensors", json.dumps({**meta, "arch": "alexnet9000"}), state)
    safetensors_with(d / "bad_kwargs.safetensors",
                     json.dumps({**meta, "arch_kwargs": {**meta["arch_kwargs"], "width": -3}}), state)
    safetensors_with(d / "wrong_shapes.safetensors", json.dumps(meta),
                     {k: torch.zeros(3) for k in state})
    raw = base.read_bytes()
    (d / "truncated.safetensors").write_bytes(raw[: len(raw) // 2])
    (d / "empty.safetensors").write_bytes(b"")
    (d / "random.safetensors").write_bytes(np.random.default_rng(1).bytes(4096))
    (d / "pickle.pt").write_bytes(b"\x80\x04\x95" + b"\x00" * 64)
    (d / "folder.safetensors").mkdir()


def _datasets(d: Path) -> None:
    rng = np.random.default_rng(2)

    def img(path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(path)

    for c in ("cat", "dog"):                      # a healthy tiny folder data set
        for i in range(4):
            img(d / "ok" / "train" / c / f"{i}.png")
    for i in range(4):                            # one class only
        img(d / "single" / "train" / "only" / f"{i}.png")
    (d / "notrain" / "test").mkdir(parents=True)
    (d / "noclasses" / "train").mkdir(parents=True)
    for c in ("cat", "dog"):                      # a class whose only image is unreadable
        img(d / "badclass" / "train" / "cat" / f"{c}.png")
    (d / "badclass" / "train" / "dog").mkdir(parents=True)
    (d / "badclass" / "train" / "dog" / "0.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    for c in ("cat", "dog"):                      # the only val image is truncated
        for i in range(2):
            img(d / "valbad" / "train" / c / f"{i}.png")
    good = (d / "valbad" / "train" / "cat" / "0.png").read_bytes()
    (d / "valbad" / "val" / "dog").mkdir(parents=True)
    (d / "valbad" / "val" / "dog" / "0.png").write_bytes(good[: len(good) // 2])
    for c in ("cat", "dog"):                      # one truncated image among good ones
        for i in range(3):
            img(d / "trunc" / "train" / c / f"{i}.png")
    good = (d / "trunc" / "train" / "cat" / "0.png").read_bytes()
    (d / "trunc" / "train" / "dog" / "9.png").write_bytes(good[: len(good) // 2])


