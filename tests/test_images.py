"""The image loader: odd-but-valid files decode to the right RGB, bad files are one-line errors."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from camviz.errors import ConfigError, ImageError
from camviz.images import DEFAULT_MAX_PIXELS, display_image, list_images, load_image, to_rgb

# ---------------------------------------------------------------- files built on the fly

def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, with no pixel data (a bomb's cheap stand-in)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def noise_rgb(w=64, h=48, seed=0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def write(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


# ---------------------------------------------------------------- bad inputs

def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="nope.jpg' does not exist"):
        list_images([tmp_path / "nope.jpg"])


def test_empty_file(tmp_path):
    p = write(tmp_path, "empty.png", b"")
    with pytest.raises(ImageError, match=r"empty.png' is empty \(0 bytes\)"):
        load_image(p)
    with pytest.raises(ImageError, match="empty"):
        load_image(b"", name="upload.png")


def test_text_file_is_not_an_image(tmp_path):
    p = write(tmp_path, "notes.jpg", b"these are my notes, not a JPEG\n" * 10)
    with pytest.raises(ImageError, match="notes.jpg' is not an image file"):
        load_image(p)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_image_fails_on_full_decode(tmp_path, fmt):
    data = encode(noise_rgb(256, 256), fmt)
    p = write(tmp_path, f"cut.{fmt.lower()}", data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated or corrupt"):
        load_image(p)


def test_corrupt_body(tmp_path):
    data = bytearray(encode(noise_rgb(128, 128), "PNG"))
    data[60:400] = bytes(340)  # zeroed compressed data: header parses, decode fails
    with pytest.raises(ImageError, match="corrupt"):
        load_image(write(tmp_path, "bad.png", bytes(data)))


def test_huge_image_rejected_from_header_before_decoding(tmp_path):
    p = write(tmp_path, "bomb.png", png_header_only(10_000, 10_000))  # 100 MP, no pixel data
    with pytest.raises(ImageError, match=r"10000x10000 = 100.0 megapixels, above the 50 MP limit"):
        load_image(p)
    assert DEFAULT_MAX_PIXELS == 50_000_000


def test_pil_hard_bomb_limit_becomes_image_error(tmp_path):
    p = write(tmp_path, "bigbomb.png", png_header_only(20_000, 20_000))  # above PIL's 2x limit
    with pytest.raises(ImageError, match="400.0 megapixels, above the 50 MP limit .* CAMVIZ_MAX_PIXELS"):
        load_image(p)                       # issue 15: camviz's limit, not Pillow's figure
    with pytest.raises(ImageError, match="Pillow's own decompression-bomb ceiling of 179 MP"):
        load_image(p, max_pixels=10**12)    # a limit raised above what Pillow will open


def test_pixel_limit_is_configurable(tmp_path, monkeypatch):
    p = write(tmp_path, "small.png", encode(noise_rgb(40, 30), "PNG"))
    with pytest.raises(ImageError, match="above the 0.001 MP limit"):
        load_image(p, max_pixels=1000)
    monkeypatch.setenv("CAMVIZ_MAX_PIXELS", "1000")
    with pytest.raises(ImageError, match="CAMVIZ_MAX_PIXELS"):
        load_image(p)
    monkeypatch.setenv("CAMVIZ_MAX_PIXELS", "2000")
    assert load_image(p).size == (40, 30)
    monkeypatch.setenv("CAMVIZ_MAX_PIXELS", "lots")
    with pytest.raises(ConfigError, match="CAMVIZ_MAX_PIXELS='lots'"):
        load_image(p)


def test_directory_without_images(tmp_path):
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(ImageError, match="contains no images"):
        list_images([tmp_path])


def test_errors_are_one_line(tmp_path):
    cases = [tmp_path / "missing.png", write(tmp_path, "e.png", b""),
             write(tmp_path, "t.png", b"text"), write(tmp_path, "b.png", png_header_only(9000, 9000))]
    for p in cases:
        with pytest.raises(ImageError) as err:
            load_image(p)
        assert "\n" not in str(err.value) and str(p) in str(err.value)


# ---------------------------------------------------------------- odd but valid

def test_list_images_sorts_directories_keeps_explicit_order(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    for n in ["b.png", "a.JPG", "c.txt", ".hidden.png"]:
        (d / n).write_bytes(b"x")
    (d / "sub").mkdir()
    z = write(tmp_path, "z.webp", b"x")
    assert list_images([z, d, d / "b.png"]) == [z, d / "a.JPG", d / "b.png"]


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    arr = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    p = write(tmp_path, "deep.png", encode(Image.fromarray(arr), "PNG"))
    assert Image.open(p).mode.startswith("I")
    rgb = np.asarray(load_image(p))
    assert rgb.dtype == np.uint8 and rgb.shape == (1, 4, 3)
    assert rgb[0, :, 0].tolist() == [0, 1, 128, 255]
    assert (rgb[..., 0] == rgb[..., 2]).all()


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    im = Image.new("CMYK", (32, 32), (0, 255, 255, 0))  # no cyan, full magenta+yellow: red
    p = write(tmp_path, "cmyk.jpg", encode(im, "JPEG", quality=95))
    assert Image.open(p).mode == "CMYK"
    out = load_image(p)
    assert out.mode == "RGB"
    r, g, b = np.asarray(out)[16, 16].astype(int)
    assert r > 240 and g < 15 and b < 15


def test_rgba_composited_on_white(tmp_path):
    arr = np.zeros((2, 2, 4), np.uint8)
    arr[0, 0] = (255, 0, 0, 255)      # opaque red
    arr[0, 1] = (255, 0, 0, 128)      # half red over white
    arr[1, 0] = (0, 0, 255, 0)        # fully transparent: white
    arr[1, 1] = (0, 0, 0, 255)        # opaque black
    rgb = np.asarray(load_image(write(tmp_path, "a.png", encode(Image.fromarray(arr, "RGBA"), "PNG"))))
    assert rgb[0, 0].tolist() == [255, 0, 0]
    assert rgb[0, 1].tolist() == [255, 127, 127]
    assert rgb[1, 0].tolist() == [255, 255, 255]
    assert rgb[1, 1].tolist() == [0, 0, 0]


def test_palette_png_with_transparency(tmp_path):
    im = Image.new("P", (3, 1))
    im.putpalette([0, 128, 0, 10, 20, 30] + [0] * 762)
    im.putdata([0, 1, 0])
    p = write(tmp_path, "pal.png", encode(im, "PNG", transparency=1))
    assert Image.open(p).mode == "P"
    rgb = np.asarray(load_image(p))
    assert rgb[0].tolist() == [[0, 128, 0], [255, 255, 255], [0, 128, 0]]


def test_animated_gif_gives_first_frame(tmp_path):
    red, blue = Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 255))
    p = write(tmp_path, "anim.gif", encode(red, "GIF", save_all=True, append_images=[blue], duration=50))
    assert Image.open(p).n_frames == 2
    rgb = np.asarray(load_image(p))
    assert rgb[4, 4].tolist() == [255, 0, 0]


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = (255, 0, 0)  # left half red
    arr[:, 20:] = (0, 0, 255)  # right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    p = write(tmp_path, "rot.jpg", encode(Image.fromarray(arr), "JPEG", exif=exif, quality=95))
    assert Image.open(p).size == (40, 20)
    out = load_image(p)
    assert out.size == (20, 40)
    a = np.asarray(out).astype(int)
    assert a[5, 10, 0] > 200 and a[5, 10, 2] < 50     # top is the former left (red)
    assert a[35, 10, 2] > 200 and a[35, 10, 0] < 50   # bottom is the former right (blue)


def test_grey_and_bytes_inputs():
    g = Image.fromarray(np.full((5, 6), 77, np.uint8))
    rgb = np.asarray(load_image(encode(g, "PNG")))
    assert rgb.shape == (5, 6, 3) and (rgb == 77).all()
    assert np.asarray(to_rgb(Image.new("1", (2, 2), 1))).tolist() == [[[255] * 3] * 2] * 2


# ---------------------------------------------------------------- model inputs

def test_display_image_keeps_aspect():
    im = noise_rgb(64, 48)
    assert display_image(im, 32).shape == (24, 32, 3)
    assert display_image(im, (10, 20)).shape == (20, 10, 3)
    assert display_image(im, 128).dtype == np.uint8


def test_in_memory_pil_image_is_also_turned_upright(tmp_path):
    from camviz.images import as_rgb_image
    exif = Image.Exif()
    exif[0x0112] = 8  # "rotate 90 CCW to display"
    p = write(tmp_path, "r.jpg", encode(noise_rgb(40, 20), "JPEG", exif=exif))
    with Image.open(p) as im:
        assert as_rgb_image(im).size == (20, 40)
    arr = np.zeros((3, 4, 3), np.uint8)
    assert np.asarray(as_rgb_image(arr)).shape == (3, 4, 3)
    with pytest.raises(ImageError, match="dtype float64"):
        as_rgb_image(arr.astype(float))
