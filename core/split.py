"""Over-limit input -> several in-limit inputs, each carrying its provenance.

Video and audio are cut by time windows with PyAV, stream-copied (re-muxed, not re-encoded)
into new containers of the same type, video at keyframes; a video whose keyframes are too
far apart for a window is re-encoded for that window only. PDFs are cut by page windows with
pypdf, text by token windows with overlap, image sets in groups of at most 6. Pieces of a
file on disk go to temporary files (deleted when the piece is garbage-collected), pieces of
in-memory bytes stay in memory, so splitting never holds a large file whole.

Every piece's ``provenance`` says where it came from: ``source``, ``piece`` (0-based index),
``pieces`` (total), and ``page_start``/``page_end`` (1-based, inclusive),
``start_s``/``end_s`` or ``char_start``/``char_end`` as the modality has them.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import io
import logging
import os
import tempfile
import weakref
from dataclasses import dataclass, replace
from typing import Any, BinaryIO, cast

from . import limits, media
from .errors import ConfigurationError, InputError
from .inputs import Audio, Image, Input, Media, Mixed, Pdf, Text, Video

logger = logging.getLogger("ge2")

#: Tokens kept free in a text piece for the task instruction the embedder adds
#: (``title: ... | text: `` or ``task: question answering | query: ``).
INSTRUCTION_TOKENS = 16
#: Container format per MIME type for re-muxed pieces.
AV_FORMATS = {
    "video/mp4": ("mp4", ".mp4"),
    "video/quicktime": ("mov", ".mov"),
    "audio/wav": ("wav", ".wav"),
    "audio/mpeg": ("mp3", ".mp3"),
}
#: Audio types the API does not take, transcoded to WAV by ``canonical``.
CANONICAL_AUDIO_MIME_TYPES = frozenset(
    {"audio/flac", "audio/ogg", "audio/mp4", "audio/x-m4a", "audio/aac", "audio/opus", "audio/webm"}
)
_EPS = 1e-6
_MIN_SECONDS = 1.0
_CONTAINER_TAGS = (
    "major_brand",
    "minor_version",
    "compatible_brands",
    "encoder",
    "handler_name",
    "vendor_id",
    "language",
    "duration",
)


@dataclass(frozen=True)
class SplitOptions:
    """Window sizes and overlaps for splitting; defaults fill each piece to the model's limit.

    ``audio_seconds=None`` uses the embedder's ``max_audio_seconds``. ``max_piece_bytes``
    keeps a piece's base64 form under the API's request cap. ``temp_dir`` is where pieces of
    on-disk files are written (the system temp folder by default).
    """

    text_tokens: int = limits.MAX_TOKENS_PER_INPUT
    text_overlap_tokens: int = 256
    pdf_pages: int = limits.MAX_PDF_PAGES
    pdf_overlap_pages: int = 0
    video_seconds: float = limits.MAX_VIDEO_SECONDS
    audio_seconds: float | None = None
    media_overlap_seconds: float = 0.0
    images_per_piece: int = limits.MAX_IMAGES_PER_INPUT
    max_piece_bytes: int = limits.MAX_REQUEST_BYTES * 3 // 4 - (1 << 20)
    temp_dir: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if not 64 <= self.text_tokens <= limits.MAX_TOKENS_PER_INPUT:
            problems.append(f"text_tokens must be 64..{limits.MAX_TOKENS_PER_INPUT}")
        if not 0 <= self.text_overlap_tokens <= self.text_tokens // 2:
            problems.append("text_overlap_tokens must be 0..text_tokens/2")
        if not 1 <= self.pdf_pages <= limits.MAX_PDF_PAGES:
            problems.append(f"pdf_pages must be 1..{limits.MAX_PDF_PAGES}")
        if not 0 <= self.pdf_overlap_pages < self.pdf_pages:
            problems.append("pdf_overlap_pages must be 0..pdf_pages-1")
        if not _MIN_SECONDS <= self.video_seconds <= limits.MAX_VIDEO_SECONDS:
            problems.append(f"video_seconds must be 1..{limits.MAX_VIDEO_SECONDS:g}")
        if self.audio_seconds is not None and self.audio_seconds < _MIN_SECONDS:
            problems.append("audio_seconds must be at least 1")
        shortest = min(self.video_seconds, self.audio_seconds or self.video_seconds)
        if not 0 <= self.media_overlap_seconds <= shortest / 2:
            problems.append("media_overlap_seconds must be 0..half the shortest window")
        if not 1 <= self.images_per_piece <= limits.MAX_IMAGES_PER_INPUT:
            problems.append(f"images_per_piece must be 1..{limits.MAX_IMAGES_PER_INPUT}")
        if self.max_piece_bytes < 64 * 1024:
            problems.append("max_piece_bytes must be at least 64 KiB")
        if problems:
            raise ConfigurationError("SplitOptions: " + "; ".join(problems))


def _reject(item: Input, problem: str, fix: str) -> InputError:
    return InputError(problem, item=item.label, fix=fix)


def _source(item: Input) -> str:
    given = item.provenance.get("source")
    if given:
        return str(given)
    if isinstance(item, Media):
        return str(item.path) if item.path else item.uri or item.name or item.label
    return item.label


# -- text --------------------------------------------------------------------------------


def _cut_at(text: str, lo: int, hi: int) -> int:
    """The best place to end a window in ``text[lo:hi]``: paragraph, line, sentence, word."""
    for sep in ("\n\n", "\n", ". ", " ", "\t"):
        i = text.rfind(sep, lo, hi)
        if i > lo:
            return i + len(sep)
    return hi


def text_windows(text: str, tokens: int, overlap_tokens: int) -> list[tuple[int, int]]:
    """Character ranges ``[start, end)`` of at most ``tokens`` (estimated) each, overlapping."""
    chars = max(16, int(tokens * limits.CHARS_PER_TOKEN))
    overlap = int(overlap_tokens * limits.CHARS_PER_TOKEN)
    windows: list[tuple[int, int]] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + chars)
        while limits.estimate_text_tokens(text[start:end]) > tokens:
            end -= max(1, (end - start) // 20)
        if end < len(text):
            end = _cut_at(text, start + (end - start) // 2, end)
        windows.append((start, end))
        if end >= len(text):
            break
        nxt = max(end - overlap, start + 1)
        if nxt < end:  # start the overlap at a word boundary
            space = text.find(" ", nxt, end)
            nxt = space + 1 if 0 <= space < end - 1 else nxt
        start = nxt
    return windows


def split_text(item: Text, options: SplitOptions) -> list[Input]:
    """Token windows with overlap, cut at paragraph, sentence or word ends where possible.

    Room is left for the task instruction (and title) the embedder puts in front of the text.
    """
    reserve = INSTRUCTION_TOKENS + limits.estimate_text_tokens(item.title or "")
    budget = min(options.text_tokens, limits.MAX_TOKENS_PER_INPUT - reserve)
    base = dict(item.provenance)
    offset = int(base.get("char_start", 0))
    return [
        Text(
            item.text[a:b],
            item.title,
            provenance={**base, "char_start": offset + a, "char_end": offset + b},
        )
        for a, b in text_windows(item.text, budget, options.text_overlap_tokens)
    ]


# -- where pieces live -------------------------------------------------------------------


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


class _Target:
    """A piece being written: a temp file when the source is on disk, else memory."""

    def __init__(self, on_disk: bool, suffix: str, options: SplitOptions) -> None:
        self.path: str | None = None
        self.buffer: io.BytesIO | None = None
        if on_disk:
            fd, self.path = tempfile.mkstemp(
                prefix="ge2-piece-", suffix=suffix, dir=options.temp_dir
            )
            os.close(fd)
        else:
            self.buffer = io.BytesIO()

    def sink(self) -> str | BinaryIO:
        if self.path is not None:
            return self.path
        assert self.buffer is not None
        self.buffer.seek(0)
        self.buffer.truncate()
        return self.buffer

    def source(self) -> bytes | str:
        if self.path is not None:
            return self.path
        assert self.buffer is not None
        return self.buffer.getvalue()

    def size(self) -> int:
        if self.path is not None:
            return os.path.getsize(self.path)
        assert self.buffer is not None
        return self.buffer.getbuffer().nbytes

    def media(self, cls: type[Media], mime: str, name: str, provenance: dict[str, Any]) -> Media:
        piece = cls(self.source(), mime, name=name, provenance=provenance)
        if self.path is not None:
            weakref.finalize(piece, _unlink, self.path)
        return piece

    def discard(self) -> None:
        if self.path is not None:
            _unlink(self.path)


def _open(item: Media) -> str | BinaryIO:
    src = item.source()
    return io.BytesIO(src) if isinstance(src, bytes) else src


# -- PDF ---------------------------------------------------------------------------------


#: Bytes of pages copied out of one ``PdfReader`` before it is re-opened: pypdf caches every
#: object it resolves, so a long PDF read through one reader would end up in memory whole.
PDF_READER_BUDGET = 8 * 1024 * 1024


def split_pdf(item: Pdf, options: SplitOptions) -> list[Input]:
    """Page windows of at most ``options.pdf_pages`` (overlapping by ``pdf_overlap_pages``).

    The reader is re-opened after every ``PDF_READER_BUDGET`` bytes of pieces, which bounds
    what pypdf's object cache holds; a piece over ``max_piece_bytes`` gets fewer pages.
    """
    from pypdf import PdfReader, PdfWriter
    from pypdf.errors import PdfReadError

    media.quiet_pypdf()
    try:
        total = media.pdf_page_count(item.source())
    except ValueError as exc:
        raise _reject(item, str(exc), "the file may be corrupt or truncated") from exc
    gc.collect()
    base = dict(item.provenance)
    offset = int(base.get("page_start", 1)) - 1
    on_disk = item.path is not None
    pieces: list[Input] = []
    first = 0
    handle = _opened(item)
    reader: Any = None
    used = 0
    try:
        while first < total:
            if reader is None or used > PDF_READER_BUDGET:
                if reader is not None:
                    reader = None
                    gc.collect()  # pypdf's objects point at each other: free them now
                handle.close()
                reader, used = PdfReader(handle.open()), 0
                info = {k: v for k, v in (reader.metadata or {}).items() if isinstance(v, str)}
            pages = options.pdf_pages
            while True:
                last = min(total, first + pages)
                target = _Target(on_disk, ".pdf", options)
                try:
                    writer = PdfWriter()
                    for i in range(first, last):
                        writer.add_page(reader.pages[i])
                    if info:
                        writer.add_metadata(info)
                    writer.write(target.sink())
                except (PdfReadError, OSError, ValueError, KeyError) as exc:
                    target.discard()
                    raise _reject(
                        item,
                        f"cannot cut pages {first + 1}-{last} ({exc})",
                        "the file may be corrupt",
                    ) from exc
                if target.size() <= options.max_piece_bytes or pages == 1:
                    break
                target.discard()
                pages -= 1
            used += target.size()
            if target.size() > options.max_piece_bytes:
                target.discard()
                raise _reject(
                    item,
                    f"page {first + 1} alone is over {options.max_piece_bytes} bytes",
                    "compress the PDF's images",
                )
            name = f"{item.name or 'pdf'} p.{offset + first + 1}-{offset + last}"
            prov = {**base, "page_start": offset + first + 1, "page_end": offset + last}
            pieces.append(target.media(Pdf, "application/pdf", name, prov))
            if last >= total:
                break
            first = max(last - options.pdf_overlap_pages, first + 1)
    finally:
        handle.close()
    return pieces


class _opened:
    """A media source opened for reading (file handle or in-memory view), never read whole."""

    def __init__(self, item: Media) -> None:
        self.item = item
        self.handle: BinaryIO | None = None

    def open(self) -> BinaryIO:
        src = self.item.source()
        self.handle = io.BytesIO(src) if isinstance(src, bytes) else open(src, "rb")  # noqa: SIM115
        return self.handle

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


# -- audio and video ---------------------------------------------------------------------


@dataclass
class _Window:
    start: float
    end: float
    at_eof: bool


def _copy_window(
    inp: Any, main: Any, sink: str | BinaryIO, fmt: str, start: float, end: float
) -> _Window | None:
    """Stream-copy the packets of ``[start, end)`` into a new container, timestamps rebased.

    Video is cut at ``start``, a keyframe. Audio packets must end by the window's end, so the
    piece never lasts longer than the window; for audio files the first packet is the one
    holding ``start`` (packet grids can shift after a seek), so consecutive pieces never
    leave a gap.
    """
    import av

    streams = [s for s in inp.streams if s.type in ("video", "audio")]
    audio_main = main.type == "audio"
    origin: float | None = None if audio_main else start
    first: float | None = None
    last = start
    at_eof = True
    with av.open(sink, "w", format=fmt) as out:
        _copy_tags(inp, out)
        outs = {s.index: out.add_stream_from_template(s) for s in streams}
        back = 1.0 if audio_main else 0.0
        target = max(0, int((start - back) / main.time_base))
        inp.seek(target, stream=main, backward=True, any_frame=False)
        for packet in inp.demux(streams):
            if packet.pts is None or packet.size == 0:
                continue
            tb = packet.time_base
            t0 = float(packet.pts * tb)
            t1 = float((packet.pts + (packet.duration or 0)) * tb)
            is_main = packet.stream.index == main.index
            if is_main and packet.dts is not None and float(packet.dts * tb) >= end - _EPS:
                at_eof = False
                break
            if origin is None:
                if t1 <= start + _EPS:
                    continue
                origin = t0
                end = origin + (end - start)
            if t0 < origin - _EPS:
                continue
            if (is_main and not audio_main and t0 >= end - _EPS) or (
                packet.stream.type == "audio" and t1 > end + _EPS
            ):
                if is_main:
                    at_eof = False
                continue
            if is_main:
                first = t0 if first is None else min(first, t0)
                last = max(last, t1)
            shift = round(origin / tb)
            packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
            packet.stream = outs[packet.stream.index]
            out.mux(packet)
    if first is None:
        return None
    return _Window(first, last, at_eof)


def _copy_tags(inp: Any, out: Any) -> None:
    """Descriptive tags (title, comment) of the container and its streams go with each piece."""
    for tags in [inp.metadata, *(s.metadata for s in inp.streams if s.type in ("audio", "video"))]:
        for key, value in tags.items():
            if key.lower() not in _CONTAINER_TAGS and key not in out.metadata:
                out.metadata[key] = value


def _encoder(fmt: str) -> str:
    import av

    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


def _reencode_window(
    inp: Any, main: Any, sink: str | BinaryIO, fmt: str, start: float, end: float
) -> _Window | None:
    """Decode ``[start, end)`` of the video and encode it anew (used when keyframes are too
    sparse to cut within the window). Only the picture is kept: the model ignores video sound.
    """
    from fractions import Fraction

    import av

    first: float | None = None
    last = start
    at_eof = True
    prev = -1
    with av.open(sink, "w", format=fmt) as out:
        _copy_tags(inp, out)
        codec = _encoder(fmt)
        stream: Any = out.add_stream(codec, rate=main.average_rate or 25)
        stream.width = main.codec_context.width
        stream.height = main.codec_context.height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        if codec == "libx264":
            stream.options = {"preset": "veryfast", "crf": "20"}
        inp.seek(max(0, int(start / main.time_base)), stream=main, backward=True, any_frame=False)
        for frame in inp.decode(main):
            if frame.pts is None:
                continue
            t = float(frame.pts * frame.time_base)
            if t < start - _EPS:
                continue
            if t >= end - _EPS:
                at_eof = False
                break
            pts = round((t - start) * 1000)
            if pts <= prev:
                continue
            prev = pts
            dur = float(frame.duration * frame.time_base) if frame.duration else 0.0
            first = t if first is None else first
            last = max(last, t + (dur or 1 / float(main.average_rate or 25)))
            frame = frame.reformat(format="yuv420p")
            frame.pts = pts
            frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    if first is None:
        return None
    return _Window(first, min(last, end), at_eof)


def _check_frame_pixels(item: Media, stream: Any) -> None:
    """Refuse to decode frames over the image pixel limit (re-encoding a window decodes them)."""
    ctx = stream.codec_context
    width, height = int(ctx.width or 0), int(ctx.height or 0)
    problem = media.pixel_problem(media.ImageInfo(width, height, "video frame"))
    if problem is not None:
        raise _reject(
            item,
            f"its keyframes are too far apart to cut without re-encoding, and its frames are "
            f"too large to decode: {problem}",
            "re-encode it at a lower resolution (e.g. ffmpeg -vf scale=1920:-2)",
        )


def _is_key(keys: list[float], t: float) -> bool:
    i = bisect.bisect_left(keys, t - 1e-3)
    return i < len(keys) and abs(keys[i] - t) < 1e-3


def _keyframes(inp: Any, main: Any) -> tuple[list[float], float]:
    """Keyframe times of the main stream and its end, from packet headers (no decoding)."""
    keys: list[float] = []
    end = 0.0
    for packet in inp.demux(main):
        if packet.pts is None or packet.size == 0:
            continue
        t = float(packet.pts * packet.time_base)
        if packet.is_keyframe:
            keys.append(t)
        end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    keys.sort()
    return keys, end


def _media_seconds(source: bytes | str) -> float:
    return media.media_duration(source)


def split_av(item: Audio | Video, options: SplitOptions, limit_seconds: float) -> list[Input]:
    """Time windows of at most ``limit_seconds``, stream-copied into the source's container.

    Video windows start and end at keyframes; where no keyframe falls inside a window the
    window is re-encoded (logged). Each written piece is measured the way ``ge2.checks`` and
    the API measure it; a piece over the limit or ``max_piece_bytes`` is cut shorter.
    """
    import av

    if item.mime not in AV_FORMATS:
        raise _reject(item, f"cannot split {item.mime}", "convert it to MP4, MOV, WAV or MP3")
    fmt, suffix = AV_FORMATS[item.mime]
    is_video = isinstance(item, Video)
    window = max(_MIN_SECONDS, limit_seconds)
    overlap = options.media_overlap_seconds
    if overlap >= window / 2:
        overlap = 0.0
    base = dict(item.provenance)
    offset = float(base.get("start_s", 0.0))
    on_disk = item.path is not None
    try:
        inp = av.open(_open(item))
    except (av.error.FFmpegError, OSError) as exc:
        raise _reject(
            item,
            f"not a readable {item.modality} file ({exc})",
            "the file may be corrupt or truncated",
        ) from exc
    pieces: list[tuple[_Target, _Window]] = []
    try:
        streams = inp.streams.video if is_video else inp.streams.audio
        if not streams:
            raise _reject(item, f"no {item.modality} stream in the file", "check the file")
        main = streams[0]
        keys: list[float] = []
        total = 0.0
        if is_video:
            keys, total = _keyframes(inp, main)
            if not keys:
                raise _reject(item, "no keyframes in the video", "the file may be corrupt")
        else:
            total = _media_seconds(item.source())
        size = item.size
        if size and total > 0:  # keep the piece's bytes under the cap, from the mean bit rate
            window = min(window, max(_MIN_SECONDS, 0.9 * options.max_piece_bytes * total / size))
        start = keys[0] if is_video else 0.0
        reencoded = 0
        while True:
            span = window
            for _ in range(8):
                target = _Target(on_disk, suffix, options)
                end = start + span
                copy = True
                if is_video:
                    i = bisect.bisect_right(keys, end + _EPS) - 1
                    later = keys[i] if keys[i] > start + _EPS else None
                    copy = _is_key(keys, start) and (later is not None or end >= total - _EPS)
                    if later is not None and end < total - _EPS:
                        end = later  # cut at the last keyframe inside the window
                if not copy:
                    _check_frame_pixels(item, main)
                writer = _copy_window if copy else _reencode_window
                got = writer(inp, main, target.sink(), fmt, start, end)
                if got is None:
                    target.discard()
                    break
                seconds = _media_seconds(target.source())
                nbytes = target.size()
                if seconds <= limit_seconds + _EPS and nbytes <= options.max_piece_bytes:
                    if not copy:
                        reencoded += 1
                    pieces.append((target, got))
                    break
                target.discard()
                span = min(
                    span * 0.8,
                    span * options.max_piece_bytes / max(nbytes, 1) * 0.95,
                    span - (seconds - limit_seconds) - 0.5,
                )
                if span < _MIN_SECONDS:
                    raise _reject(
                        item,
                        f"cannot cut a piece within {limit_seconds:g} s and "
                        f"{options.max_piece_bytes} bytes",
                        "re-encode the file at a lower bit rate",
                    )
            else:
                raise _reject(
                    item, "cannot cut a piece within the limits", "split the file yourself"
                )
            if got is None or got.at_eof or (is_video and got.end >= total - _EPS):
                break
            nxt = got.end - overlap
            if is_video:
                i = bisect.bisect_right(keys, nxt + _EPS) - 1
                nxt = keys[i] if i >= 0 and keys[i] > start + _EPS else got.end
            start = nxt if nxt > start + _EPS else got.end
        if reencoded:
            logger.info(
                "%s: %d window(s) re-encoded (keyframes too far apart to stream-copy)",
                item.label,
                reencoded,
            )
    except BaseException:
        for target, _ in pieces:
            target.discard()
        raise
    finally:
        inp.close()
    out: list[Input] = []
    for target, got in pieces:
        a, b = round(offset + got.start, 3), round(offset + got.end, 3)
        prov = {**base, "start_s": a, "end_s": b}
        name = f"{item.name or item.modality} [{a:g}-{b:g} s]"
        out.append(target.media(type(item), item.mime, name, prov))
    return out


# -- canonical form ----------------------------------------------------------------------


def canonical(item: Input) -> Input:
    """The same input in a form the API takes: FLAC, OGG, M4A/AAC audio become WAV, and a
    JPEG over ``limits.MAX_IMAGE_PIXELS`` is downscaled (decoded at reduced scale).

    Returns ``item`` itself when nothing needs converting. The WAV is 16-bit PCM at the
    source rate (mono or stereo), written to a temp file for a file on disk.
    """
    if isinstance(item, Mixed):
        parts = [cast("Text | Media", canonical(p)) for p in item.parts]
        if all(a is b for a, b in zip(parts, item.parts, strict=True)):
            return item
        return Mixed(parts, provenance=item.provenance)
    if isinstance(item, Image) and item.uri is None:
        return _within_pixels(item)
    if not isinstance(item, Audio) or item.uri is not None:
        return item
    if item.mime not in CANONICAL_AUDIO_MIME_TYPES:
        return item
    return _to_wav(item, SplitOptions())


def _within_pixels(item: Image) -> Image:
    """A JPEG over ``limits.MAX_IMAGE_PIXELS`` decoded at 1/2, 1/4 or 1/8 scale to fit.

    Everything else comes back as it is: ``ge2.checks`` reads the header and refuses an
    unreadable image or one that cannot be brought under the limit without a full decode.
    """
    try:
        if item.mime != "image/jpeg":
            return item
        info = media.image_header(item.source())
    except (OSError, ValueError):
        return item
    if media.pixel_problem(info) is None or media.jpeg_draft_scale(info) is None:
        return item
    try:
        data, small = media.downscale_jpeg(item.source())
    except ValueError as exc:
        raise _reject(item, str(exc), media.PIXEL_FIX) from exc
    logger.info(
        "%s: %dx%d is over %d pixels; sent downscaled to %dx%d",
        item.label,
        info.width,
        info.height,
        limits.MAX_IMAGE_PIXELS,
        small.width,
        small.height,
    )
    prov = {
        **item.provenance,
        "source": _source(item),
        "downscaled_from": f"{info.width}x{info.height}",
    }
    return Image(data, "image/jpeg", name=item.name, provenance=prov)


def _to_wav(item: Audio, options: SplitOptions) -> Audio:
    import av

    target = _Target(item.path is not None, ".wav", options)
    try:
        inp: Any
        with av.open(_open(item)) as inp:
            if not inp.streams.audio:
                raise _reject(item, "no audio stream in the file", "check the file")
            src = inp.streams.audio[0]
            layout = "stereo" if (src.codec_context.channels or 1) > 1 else "mono"
            rate = src.codec_context.sample_rate or 16000
            with av.open(target.sink(), "w", format="wav") as out:
                _copy_tags(inp, out)
                stream = out.add_stream("pcm_s16le", rate=rate)
                stream.layout = layout
                resampler = av.AudioResampler(format="s16", layout=layout, rate=rate)
                for frame in inp.decode(src):
                    for f in resampler.resample(frame):
                        for packet in stream.encode(f):
                            out.mux(packet)
                for f in resampler.resample(None):
                    for packet in stream.encode(f):
                        out.mux(packet)
                for packet in stream.encode(None):
                    out.mux(packet)
    except (av.error.FFmpegError, OSError) as exc:
        target.discard()
        raise _reject(
            item, f"cannot decode {item.mime} audio ({exc})", "the file may be corrupt or truncated"
        ) from exc
    prov = {**item.provenance, "source": _source(item), "converted_from": item.mime}
    piece = target.media(Audio, "audio/wav", item.name, prov)
    assert isinstance(piece, Audio)
    return piece


# -- mixed inputs ------------------------------------------------------------------------


def _split_mixed(item: Mixed, options: SplitOptions, max_audio_seconds: float) -> list[Input]:
    """Image sets in groups, a long text in windows, or one long media part in windows.

    The other parts (captions) go with every piece. Anything else is rejected: ge2 does not
    guess which of several long parts belongs with which.
    """
    texts = [p for p in item.parts if isinstance(p, Text)]
    images = [p for p in item.parts if isinstance(p, Image)]
    long_parts = [p for p in item.parts if isinstance(p, Audio | Video | Pdf)]
    text_tokens = sum(limits.estimate_text_tokens(t.text) for t in texts)
    budget = limits.MAX_TOKENS_PER_INPUT
    fix = "embed the long parts as separate inputs, or shorten the text"

    if long_parts:
        if len(long_parts) > 1 or images:
            raise _reject(
                item,
                "over the limits with several media parts",
                "embed each long media file as its own input",
            )
        part = long_parts[0]
        room = budget - text_tokens - len(images) * limits.TOKENS_PER_IMAGE
        if isinstance(part, Video):
            secs = min(options.video_seconds, room / limits.TOKENS_PER_VIDEO_FRAME)
            sub = split_av(part, options, secs) if secs >= _MIN_SECONDS else None
        elif isinstance(part, Audio):
            secs = min(
                options.audio_seconds or max_audio_seconds,
                max_audio_seconds,
                room / limits.TOKENS_PER_AUDIO_SECOND,
            )
            sub = split_av(part, options, secs) if secs >= _MIN_SECONDS else None
        else:
            pages = min(options.pdf_pages, room // limits.TOKENS_PER_PDF_PAGE)
            sub = (
                split_pdf(
                    part,
                    replace(
                        options,
                        pdf_pages=pages,
                        pdf_overlap_pages=min(options.pdf_overlap_pages, pages - 1),
                    ),
                )
                if pages >= 1
                else None
            )
        if sub is None:
            raise _reject(
                item,
                f"its text (about {text_tokens} tokens) leaves no room for the "
                f"{part.modality} within {budget} tokens",
                fix,
            )
        return [
            Mixed(
                [cast(Media, piece) if p is part else p for p in item.parts],
                provenance={**item.provenance, **piece.provenance},
            )
            for piece in sub
        ]

    per = options.images_per_piece
    group_tokens = min(per, len(images)) * limits.TOKENS_PER_IMAGE
    if text_tokens + group_tokens <= budget and images:
        out: list[Input] = []
        for g in range(0, len(images), per):
            group = {id(p) for p in images[g : g + per]}
            parts = [p for p in item.parts if not isinstance(p, Image) or id(p) in group]
            prov = {**item.provenance, "image_start": g + 1, "image_end": min(g + per, len(images))}
            out.append(Mixed(parts, provenance=prov))
        return out
    if len(texts) == 1 and len(images) <= per:
        room = budget - len(images) * limits.TOKENS_PER_IMAGE
        if room >= 256:
            long = texts[0]
            sub_opts = replace(
                options,
                text_tokens=room,
                text_overlap_tokens=min(options.text_overlap_tokens, room // 2),
            )
            return [
                Mixed(
                    [Text(long.text[a:b], long.title) if p is long else p for p in item.parts],
                    provenance={**item.provenance, "char_start": a, "char_end": b},
                )
                for a, b in text_windows(
                    long.text, sub_opts.text_tokens, sub_opts.text_overlap_tokens
                )
            ]
    raise _reject(
        item,
        f"its text (about {text_tokens} tokens) and {len(images)} image(s) are "
        f"over the {budget}-token budget of one input",
        fix,
    )


# -- entry point -------------------------------------------------------------------------


def split(
    item: Input,
    options: SplitOptions | None = None,
    *,
    max_audio_seconds: float = limits.MAX_AUDIO_SECONDS,
) -> list[Input]:
    """In-limit pieces of ``item``, numbered, each with its provenance.

    An input that fits comes back as a single piece. Raises ``InputError`` for inputs that
    cannot be split (remote URIs, a single image, mixed inputs with several long parts).
    """
    options = options or SplitOptions()
    if isinstance(item, Media) and item.uri is not None:
        raise _reject(
            item,
            "a remote file cannot be split before sending",
            "download it and pass the local path",
        )
    pieces: list[Input]
    if isinstance(item, Text):
        pieces = split_text(item, options)
    elif isinstance(item, Pdf):
        pieces = split_pdf(item, options)
    elif isinstance(item, Video):
        pieces = split_av(item, options, min(options.video_seconds, limits.MAX_VIDEO_SECONDS))
    elif isinstance(item, Audio):
        limit = min(options.audio_seconds or max_audio_seconds, max_audio_seconds)
        pieces = split_av(item, options, limit)
    elif isinstance(item, Mixed):
        pieces = _split_mixed(item, options, max_audio_seconds)
    else:
        raise _reject(
            item,
            "over the model's limits and an image cannot be split",
            "resize or re-compress the image",
        )
    source = _source(item)
    for i, piece in enumerate(pieces):
        prov = piece.provenance
        assert isinstance(prov, dict)
        prov.setdefault("source", source)
        prov["piece"] = i
        prov["pieces"] = len(pieces)
    return pieces


__all__ = [
    "CANONICAL_AUDIO_MIME_TYPES",
    "SplitOptions",
    "canonical",
    "split",
    "split_av",
    "split_pdf",
    "split_text",
    "text_windows",
]
