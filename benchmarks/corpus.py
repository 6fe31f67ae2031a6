"""The benchmark's corpus, generated deterministically: text chunks, small PNGs, a long video."""

from __future__ import annotations

import json
import random
from pathlib import Path

from ge2 import samples

_SYLLABLE_TEXT = (
    "ka lo mi ra te su vin dor pel an ost iru bem cal fen gor hul jas kev lum nar opa"
    " qui rez sol tam ule vex wyn yar zed bri cho dra ely fro gla"
)
_SYLLABLES = _SYLLABLE_TEXT.split()


def _vocabulary(rng: random.Random, size: int = 4000) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3))))
    return sorted(words)


def texts(count: int, seed: int = 9) -> list[str]:
    """``count`` chunks of 50-100 words each, the same on every run."""
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    out = []
    for _ in range(count):
        words = [rng.choice(vocab) for _ in range(rng.randint(50, 100))]
        out.append(" ".join(words).capitalize() + ".")
    return out


def images(folder: Path, count: int, seed: int = 9) -> list[Path]:
    """``count`` small PNGs (64x64, each with its own colour, pattern and description)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"image-{i:04d}.png"
        if not path.exists():
            color = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
            path.write_bytes(
                samples.png(color, pattern=i % 8, description=f"sample picture number {i}")
            )
        paths.append(path)
    return paths


def long_video(folder: Path, seconds: float) -> Path:
    """A low-resolution silent video of ``seconds`` (1 fps), which the core must split."""
    path = folder / f"long-{int(seconds)}s.mp4"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        samples.video(seconds, path=path, size=(160, 120), title="a long benchmark recording")
    return path


def write(folder: Path, n_texts: int, n_images: int, video_seconds: float) -> dict[str, object]:
    """Write the corpus under ``folder``; returns a manifest the worker processes read."""
    folder.mkdir(parents=True, exist_ok=True)
    text_file = folder / "texts.json"
    text_file.write_text(json.dumps(texts(n_texts)))
    image_paths = images(folder / "images", n_images)
    video = long_video(folder / "video", video_seconds)
    manifest = {
        "texts": str(text_file),
        "images": [str(p) for p in image_paths],
        "video": str(video),
        "video_seconds": video_seconds,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return manifest
