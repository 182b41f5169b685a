"""One way to scale photos for every format: upright, sRGB, never enlarged, fast to decode."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from conftest import LAYOUTS
from publisher import model as m
from publisher.errors import PublisherError
from publisher.render.epub.assets import fit_image
from publisher.source import raster as imaging


def _jpeg(path: Path, size: tuple[int, int], *, orientation: int = 1, mode: str = "RGB",
          icc: bytes | None = None) -> Path:
    image = Image.new(mode, size, "red" if mode == "RGB" else (0, 255, 255, 0))
    image.paste("blue" if mode == "RGB" else (255, 255, 0, 0), (0, 0, size[0] // 2, size[1]))
    exif = Image.Exif()
    exif[0x0112] = orientation
    extra = {"icc_profile": icc} if icc else {}
    image.save(path, "JPEG", quality=90, exif=exif.tobytes(), **extra)
    return path


def test_a_photo_turned_by_its_exif_tag_loads_upright(tmp_path: Path) -> None:
    path = _jpeg(tmp_path / "turned.jpg", (300, 200), orientation=6)
    image = imaging.load(path)
    assert image.size == (200, 300)
    assert image.mode == "RGB"


def test_a_cmyk_photo_loads_as_rgb(tmp_path: Path) -> None:
    path = _jpeg(tmp_path / "cmyk.jpg", (120, 80), mode="CMYK")
    image = imaging.load(path)
    assert image.mode == "RGB"
    red, green, blue = image.getpixel((100, 40))  # cyan-free, full magenta and yellow: red
    assert red > 150 and green < 100 and blue < 100


def test_a_photo_with_an_icc_profile_is_converted_through_it(tmp_path: Path) -> None:
    profile = (LAYOUTS / "print" / "icc" / "FOGRA39L.icc").read_bytes()
    path = _jpeg(tmp_path / "fogra.jpg", (60, 40), mode="CMYK", icc=profile)
    managed = imaging.load(path).getpixel((50, 20))
    naive = Image.open(path).convert("RGB").getpixel((50, 20))
    assert managed != naive  # press red through the profile is not the naive (255, 0, 0)
    assert managed[0] > 180 and managed[1] < 90


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_that_still_covers_the_fit(
        tmp_path: Path) -> None:
    path = _jpeg(tmp_path / "large.jpg", (4000, 3000))
    image = imaging.load(path, within=(1000, 1000))
    assert 1000 <= image.width < 4000 and image.height >= 750
    fitted = imaging.fit(image, 1000, 1000)
    assert fitted.size == (1000, 750)
    assert fitted.getpixel((10, 10))[2] > 200 and fitted.getpixel((990, 10))[0] > 200


def test_a_jpeg_to_be_cropped_is_decoded_large_enough_to_cover_the_box(tmp_path: Path) -> None:
    path = _jpeg(tmp_path / "wide.jpg", (4000, 2000))
    image = imaging.load(path, covering=(500, 1000))  # a tall crop of a wide photo
    assert image.height >= 1000 and image.width < 4000
    assert imaging.cover(image, (500, 1000)).size == (500, 1000)


def test_fit_never_enlarges(tmp_path: Path) -> None:
    small = imaging.load(_jpeg(tmp_path / "small.jpg", (300, 200)))
    assert imaging.fit(small, 1200).size == (300, 200)
    assert imaging.fit(small, 150).size == (150, 100)
    assert imaging.fit(small, 1200, 100).size == (150, 100)


def test_encode_chooses_jpeg_for_photos_and_png_for_transparency_and_line_art() -> None:
    opaque = Image.new("RGB", (10, 10), "white")
    clear = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    assert imaging.encode(opaque).subtype == "jpeg"
    assert imaging.encode(clear).subtype == "png"
    assert imaging.encode(opaque, lossless=True).subtype == "png"
    encoded = imaging.encode(opaque)
    assert Image.open(io.BytesIO(encoded.data)).format == "JPEG"
    assert (encoded.width, encoded.height, encoded.extension) == (10, 10, "jpg")


def test_an_unreadable_image_names_its_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"not an image")
    with pytest.raises(PublisherError) as raised:
        imaging.load(path)
    assert raised.value.location.path == path
    assert "cannot read the image" in str(raised.value)


def test_the_epub_keeps_a_large_diagram_lossless_and_names_it_png(tmp_path: Path) -> None:
    path = tmp_path / "images" / "diagram.gif"
    path.parent.mkdir()
    Image.new("P", (3200, 1600), 1).save(path, "GIF")
    asset = fit_image(m.Image(path, "images/diagram.gif", "A diagram", 3200, 1600))
    assert asset.media_type == "image/png" and asset.href == "images/diagram.png"
    assert (asset.width, asset.height) == (1600, 800)
    assert Image.open(io.BytesIO(asset.data)).format == "PNG"


def test_the_epub_keeps_a_small_plain_image_as_is_but_strips_one_with_metadata(
        tmp_path: Path) -> None:
    plain = tmp_path / "plain.png"
    Image.new("RGB", (300, 200), "white").save(plain)
    kept = fit_image(m.Image(plain, "images/plain.png", "Plain", 300, 200))
    assert kept.data == plain.read_bytes()
    tagged = _jpeg(tmp_path / "gps.jpg", (300, 200))  # EXIF (an orientation tag)
    made = fit_image(m.Image(tagged, "images/gps.jpg", "Tagged", 300, 200))
    assert made.data != tagged.read_bytes()
    assert not Image.open(io.BytesIO(made.data)).getexif()


def test_a_16_bit_grey_png_keeps_its_greys(tmp_path: Path) -> None:
    """Found by the generated issues: Pillow converts a 16-bit PNG (mode I;16) to RGB by
    clipping every value over 255, so a grey ramp came out white in the EPUB and email."""
    ramp = Image.new("I;16", (256, 8))
    ramp.putdata([x * 257 for _ in range(8) for x in range(256)])
    ramp.save(tmp_path / "ramp.png")
    image = imaging.load(tmp_path / "ramp.png")
    assert image.mode == "RGB"
    greys = [image.getpixel((x, 4))[0] for x in (0, 64, 128, 192, 255)]
    assert greys == [0, 64, 128, 192, 255]
