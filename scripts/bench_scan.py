"""Benchmark: how long the scanner takes to find a barcode in a 4000 x 3000 phone-like photo.

    python -m scripts.bench_scan            # median of 5 runs, in seconds

`phone_photo` is also what the tests use to make photo-like pictures from our own barcodes.
"""
import io
import random
import statistics
import sys
import time
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFilter

from app.services import barcodes

SAMPLE = {"id": "bench", "sku": "BENCH-1", "title": "Pride and Prejudice", "price": "9.99",
          "barcode": "9780141439518", "isbn": "9780141439518", "version": 1}


def barcode_png(product=SAMPLE, label=False):
    """The PNG the API serves for a product."""
    return barcodes.BarcodeImage(product, "png", label, "EUR").render()


@lru_cache(maxsize=4)
def _textures(size, sigma):
    """Sensor grain, and a lit, blotchy table to lie the code on; made once per size, because
    Pillow draws 12 MP of noise slowly (tiles of grain make it quicker still)."""
    tile = Image.effect_noise((512, 512), sigma)
    grain = Image.new("L", size)
    for i, x in enumerate(range(0, size[0], 512)):
        for j, y in enumerate(range(0, size[1], 512)):
            grain.paste(tile.rotate(90 * ((i * 7 + j * 3) % 4)), (x, y))
    blotches = Image.effect_noise((size[0] // 40, size[1] // 40), 60).resize(size, Image.Resampling.BILINEAR)
    light = Image.linear_gradient("L").resize(size).point(lambda v: 60 + v // 4)
    table = Image.blend(Image.blend(grain, blotches, 0.5), light, 0.5)
    return table, grain


def phone_photo(png, size=(4000, 3000), scale=2.0, angle=0.0, blur=1.2, quality=80, noise=28,
                position=None, seed=1):
    """A JPEG that looks like a phone photo of a printed barcode.

    The barcode is enlarged by `scale`, turned by `angle` degrees on white paper, laid on a noisy,
    unevenly lit table of `size` among clutter, blurred (focus), covered in sensor grain and
    JPEG-compressed at `quality`.
    """
    rng = random.Random(seed)
    code = Image.open(io.BytesIO(png)).convert("L")
    code = code.resize((int(code.width * scale), int(code.height * scale)), Image.Resampling.BICUBIC)
    paper = Image.new("L", (code.width + 80, code.height + 80), 235)
    paper.paste(code.point(lambda v: 30 + v * 205 // 255), (40, 40))  # ink is never black on paper
    mask = Image.new("L", paper.size, 255)
    if angle:
        paper = paper.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
        mask = mask.rotate(angle, expand=True)
    table, grain = _textures(tuple(size), noise)
    photo = table.copy()
    pen = ImageDraw.Draw(photo)
    for _ in range(40):  # clutter: other things in the shot
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        pen.rectangle((x, y, x + rng.randrange(20, 400), y + rng.randrange(20, 300)),
                      fill=rng.randrange(40, 220))
    if position is None:
        position = (rng.randrange(0, max(1, size[0] - paper.width)),
                    rng.randrange(0, max(1, size[1] - paper.height)))
    photo.paste(paper, position, mask)
    if blur:  # out of focus where it matters: around the code (blurring 12 MP takes a second)
        margin = int(blur * 4) + 2
        box = (max(0, position[0] - margin), max(0, position[1] - margin),
               min(size[0], position[0] + paper.width + margin),
               min(size[1], position[1] + paper.height + margin))
        photo.paste(photo.crop(box).filter(ImageFilter.GaussianBlur(blur)), box[:2])
    photo = Image.blend(photo, grain, 0.15)  # the grain lies over the code too
    photo = photo.convert("RGB")  # a phone sends colour; the scanner must cope with that
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=quality)
    return out.getvalue()


def bench_scan(runs=5, out=sys.stdout):
    """Median seconds to open and decode a 4000 x 3000 phone photo with one EAN-13 in it."""
    photo = phone_photo(barcode_png(), angle=4)
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        codes = barcodes.decode_picture(barcodes.open_picture(photo, 40_000_000))
        timings.append(time.perf_counter() - start)
        assert codes == [(SAMPLE["barcode"], "EAN13")], codes
    median = statistics.median(timings)
    print(f"scan of a 4000x3000 JPEG ({len(photo) // 1024} KiB): median {median * 1000:.0f} ms "
          f"over {runs} runs (min {min(timings) * 1000:.0f} ms, max {max(timings) * 1000:.0f} ms)",
          file=out)
    return median


if __name__ == "__main__":
    bench_scan()
