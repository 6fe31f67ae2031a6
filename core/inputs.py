"""What can be embedded: text, media (image, audio, video, PDF) and mixed inputs.

Plain ``str`` is always text. Media come from a path, bytes (+ optional MIME type), a PIL
image, or a ``gs://`` / ``https://`` URI; their type is read from their content, not
trusted from a name. Media bytes stay on disk until a request needs them.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

from . import media
from .errors import InputError

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

_URI_SCHEMES = ("gs://", "https://", "http://")
#: UTF-16 surrogate code points: a str holding one alone cannot be encoded to send.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_text(value: object, what: str, label: str | None = None) -> None:
    """Refuse a non-str or a str that cannot be sent as UTF-8 (a lone surrogate)."""
    if not isinstance(value, str):
        raise InputError(
            f"{what} must be a str, not {type(value).__name__}",
            item=label,
            fix=f"pass the {what} as a str (decode bytes first)",
        )
    bad = _SURROGATE.search(value)
    if bad is not None:
        short = value[:40].encode("utf-8", "backslashreplace").decode("utf-8")
        raise InputError(
            f"{what} holds a lone surrogate (U+{ord(bad.group()):04X}) at character "
            f"{bad.start()}, which is not valid Unicode and cannot be sent",
            item=label or f"text {short!r}",
            fix="decode the source with errors='replace' (or clean the string) before embedding",
        )


#: How to fix a file name that is not UTF-8.
RENAME_FIX = "rename the file to a UTF-8 name (e.g. convmv -f latin1 -t utf8 --notest NAME)"


def require_utf8(value: str, *, what: str, index: int | None = None, fix: str | None = None) -> str:
    """``value`` when it encodes as UTF-8, else an ``InputError`` naming the bad character.

    A file name whose bytes are not UTF-8 reaches Python with each bad byte kept as a
    surrogate (``os.fsdecode``): ge2 reads such files, but stores that hold UTF-8 text
    (Chroma's ids, URIs and metadata, LanceDB's string columns) cannot keep the name. So
    adapters check names with this before anything is sent, not after.
    """
    bad = _SURROGATE.search(value)
    if bad is None:
        return value
    code = ord(bad.group())
    escaped = 0xDC80 <= code <= 0xDCFF  # a byte os.fsdecode could not decode
    shown = value.encode("utf-8", "surrogateescape" if escaped else "replace")
    if escaped:
        problem = (
            f"the name holds the byte 0x{code - 0xDC00:02X} (character {bad.start()}), which "
            "is not UTF-8, so it cannot be stored as text"
        )
    else:
        problem = (
            f"it holds a lone surrogate (U+{code:04X}) at character {bad.start()}, which is "
            "not valid Unicode and cannot be stored or sent"
        )
    raise InputError(
        problem,
        index=index,
        item=f"{what} {shown.decode('utf-8', 'backslashreplace')!r}",
        fix=fix or (RENAME_FIX if escaped else "clean the string before passing it"),
    )


@dataclass(frozen=True)
class Text:
    """A text input; ``title`` feeds the document instruction (``title: ... | text: ...``)."""

    text: str
    title: str | None = None
    provenance: Mapping[str, Any] = field(default_factory=dict, compare=False)

    modality: ClassVar[str] = "text"

    def __post_init__(self) -> None:
        _check_text(self.text, "text")
        if self.title is not None:
            _check_text(self.title, "title", self.label)

    @property
    def label(self) -> str:
        short = self.text[:40].replace("\n", " ")
        return f"text {short!r}{'...' if len(self.text) > 40 else ''}"


class Media:
    """A media input: bytes in memory, a file on disk, or a remote URI.

    ``provenance`` says where a piece came from when ``ge2.split`` cut it from a larger
    input (source, page range, start/end seconds).
    """

    modality: ClassVar[str] = ""

    def __init__(
        self,
        source: bytes | bytearray | str | os.PathLike[str] | PILImage,
        mime: str | None = None,
        *,
        name: str | None = None,
        provenance: Mapping[str, Any] | None = None,
    ) -> None:
        self._data: bytes | None = None
        self.path: Path | None = None
        self.uri: str | None = None
        self.provenance: dict[str, Any] = dict(provenance or {})
        kind = type(self).__name__
        if mime is not None and not isinstance(mime, str):
            raise InputError(
                f"mime must be a str such as 'image/png', not {type(mime).__name__}",
                item=f"{kind} source",
                fix="pass mime='type/subtype' or leave it out to sniff the content",
            )
        if name is not None and not isinstance(name, str):
            raise InputError(f"name must be a str, not {type(name).__name__}", item=kind)
        if isinstance(source, bytes | bytearray | memoryview):
            self._data = bytes(source)
        elif isinstance(source, str) and source.startswith(_URI_SCHEMES):
            self.uri = source
        elif isinstance(source, str | os.PathLike):
            try:
                self.path = Path(source)
            except TypeError as exc:  # an os.PathLike whose __fspath__ gives bytes
                raise InputError(
                    f"cannot make a {kind} from this path ({exc})", fix="pass a str path"
                ) from exc
            if "\x00" in str(self.path):
                raise InputError(
                    "a path cannot contain a NUL character",
                    item=f"{kind} {str(self.path)!r}",
                    fix="check the path",
                )
        elif _is_pil_image(source):
            self._data = _pil_png(source, kind)
            mime = mime or "image/png"
        else:
            raise InputError(
                f"cannot make a {kind} from {type(source).__name__}",
                fix="pass a path, bytes, a PIL image or a gs:// / https:// URI",
            )
        self._mime = media.normalize_mime(mime) if mime else None
        self.name = name or (str(self.path) if self.path else self.uri) or ""
        self._sha: str | None = None

    @property
    def label(self) -> str:
        """How errors and progress name this input."""
        if self.name:
            return f"{self.modality} {self.name!r}"
        size = len(self._data) if self._data is not None else 0
        return f"{self.modality} <{size} bytes>"

    @property
    def mime(self) -> str:
        """The MIME type: as given, else sniffed from the content, else from the extension."""
        if self._mime is None:
            sniffed = None
            if self.uri is None:
                try:
                    sniffed = media.sniff_mime(self.head())
                except (OSError, ValueError):  # ValueError: a path the OS cannot encode
                    sniffed = None
            if sniffed is None:
                sniffed = media.mime_from_extension(self.path.name if self.path else self.name)
            self._mime = sniffed or "application/octet-stream"
        return self._mime

    def head(self, n: int = media.SNIFF_BYTES) -> bytes:
        """The first ``n`` bytes (for sniffing) without reading a large file whole."""
        if self._data is not None:
            return self._data[:n]
        if self.path is not None:
            with open(self.path, "rb") as fh:
                return fh.read(n)
        return b""

    def read(self) -> bytes:
        """All bytes; remote URIs have none (the API fetches them)."""
        if self._data is not None:
            return self._data
        if self.path is not None:
            return self.path.read_bytes()
        return b""

    @property
    def size(self) -> int:
        if self._data is not None:
            return len(self._data)
        if self.path is not None:
            return self.path.stat().st_size
        return 0

    def source(self) -> bytes | str:
        """Something the decoders (Pillow, pypdf, PyAV) can open: bytes or a path."""
        return self._data if self._data is not None else str(self.path)

    def sha256(self) -> str:
        """Content hash, streamed from disk for files, used by the cache key."""
        if self._sha is None:
            h = hashlib.sha256()
            if self.uri is not None:
                h.update(self.uri.encode())
            elif self._data is not None:
                h.update(self._data)
            elif self.path is not None:
                with open(self.path, "rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        h.update(chunk)
            self._sha = h.hexdigest()
        return self._sha

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name or f'<{self.size} bytes>'!s}, mime={self.mime!r})"

    def __eq__(self, other: object) -> bool:
        return (
            type(self) is type(other)
            and isinstance(other, Media)
            and self.mime == other.mime
            and self.sha256() == other.sha256()
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.sha256()))


class Image(Media):
    """An image (PNG, JPEG; WebP, BMP, GIF and others are converted to PNG for the Gemini API)."""

    modality = "image"


class Audio(Media):
    """An audio clip (MP3, WAV)."""

    modality = "audio"


class Video(Media):
    """A video (MP4, MOV); its sound track is not used by the model by default."""

    modality = "video"


class Pdf(Media):
    """A PDF document (at most 6 pages per input; longer ones are split by page windows)."""

    modality = "pdf"

    def pages(self, first: int, last: int | None = None) -> Pdf:
        """Pages ``first``..``last`` (1-based, inclusive) as a new in-memory ``Pdf``.

        Frameworks address one page of a file (Haystack's ``meta["page_number"]``); this
        embeds that page as a PDF, text layer and all, with its page range in ``provenance``.
        """
        from pypdf import PdfReader, PdfWriter
        from pypdf.errors import PdfReadError

        media.quiet_pypdf()
        last = first if last is None else last
        try:
            reader = PdfReader(io.BytesIO(self.read()))
            count = len(reader.pages)
        except (PdfReadError, OSError) as exc:
            raise InputError(
                f"not a readable PDF ({exc})", item=self.label, fix=media.PDF_FIX
            ) from exc
        if not 1 <= first <= last <= count:
            raise InputError(
                f"pages {first}..{last} are outside this PDF's 1..{count}",
                item=self.label,
                fix="page numbers start at 1",
            )
        writer = PdfWriter()
        for page in reader.pages[first - 1 : last]:
            writer.add_page(page)
        buf = io.BytesIO()
        writer.write(buf)
        source = self.provenance.get("source") or self.name or None
        provenance = {**self.provenance, "page_start": first, "page_end": last}
        if source:
            provenance["source"] = source
        name = f"{self.name or 'pdf'} p.{first}" + (f"-{last}" if last != first else "")
        return Pdf(buf.getvalue(), "application/pdf", name=name, provenance=provenance)


Part: TypeAlias = "Text | Media"


@dataclass(frozen=True)
class Mixed:
    """Several parts (text and media, interleaved) that make ONE embedding."""

    parts: tuple[Part, ...]
    provenance: Mapping[str, Any] = field(default_factory=dict, compare=False)

    modality: ClassVar[str] = "mixed"

    def __init__(
        self, parts: Iterable[str | Part], provenance: Mapping[str, Any] | None = None
    ) -> None:
        if isinstance(parts, str | bytes | bytearray) or not isinstance(parts, Iterable):
            raise TypeError(
                f"Mixed takes a list of parts, not {type(parts).__name__}: "
                "write Mixed([text, ge2.Image(...)]) (a bare str would be split into characters)"
            )
        converted: list[Part] = []
        for part in parts:
            item = as_input(part)
            if isinstance(item, Mixed):
                converted.extend(item.parts)
            else:
                converted.append(item)
        if not converted:
            raise InputError("a Mixed input needs at least one part")
        object.__setattr__(self, "parts", tuple(converted))
        object.__setattr__(self, "provenance", dict(provenance or {}))

    @property
    def label(self) -> str:
        return "mixed [" + ", ".join(p.label for p in self.parts[:4]) + "]"


Input: TypeAlias = "Text | Media | Mixed"
#: Anything ``Embedder.embed`` accepts as one item.
InputLike: TypeAlias = "str | Text | Media | Mixed | os.PathLike[str] | PILImage"

_CLASS_BY_MODALITY: dict[str, type[Media]] = {
    "image": Image,
    "audio": Audio,
    "video": Video,
    "pdf": Pdf,
}


#: PIL modes that Pillow writes as PNG as they are; others are converted to RGB(A) first.
_PNG_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I;16B"})


def _pil_png(img: PILImage, kind: str) -> bytes:
    """A PIL image as PNG bytes; refused with ``InputError`` when over the pixel limit.

    An image handed over as a PIL object may not be decoded yet (``PIL.Image.open`` is
    lazy), so ge2 does not resize it itself: that could decode a huge image in full.
    """
    label = f"{kind} <PIL {img.mode} {img.width}x{img.height}>"
    if img.width * img.height == 0:
        raise InputError("the PIL image is empty (0 pixels)", item=label)
    problem = media.pixel_problem(media.ImageInfo(img.width, img.height, str(img.format)))
    if problem is not None:
        raise InputError(
            problem,
            item=label,
            fix="downscale it first, e.g. img.thumbnail((8000, 8000))",
        )
    try:
        if img.mode not in _PNG_MODES:
            bands = img.getbands()
            img = img.convert("RGBA" if "A" in bands or "a" in bands else "RGB")
        buf = io.BytesIO()
        img.save(buf, format="PNG")
    except Exception as exc:  # Pillow's encoders raise OSError, ValueError, KeyError, ...
        raise InputError(
            f"cannot encode the PIL image as PNG ({type(exc).__name__}: {exc})",
            item=label,
            fix="convert it to RGB first: img.convert('RGB')",
        ) from exc
    return buf.getvalue()


def _is_pil_image(obj: object) -> bool:
    try:
        from PIL.Image import Image as PILImageClass
    except ImportError:  # pragma: no cover - Pillow is a core dependency
        return False
    return isinstance(obj, PILImageClass)


def media_class(mime: str) -> type[Media] | None:
    """The ``Media`` subclass for a MIME type, or None for text or unknown types."""
    modality = media.modality_of(mime)
    return _CLASS_BY_MODALITY.get(modality) if modality else None


def load(source: str | os.PathLike[str] | bytes, mime: str | None = None) -> Input:
    """Open a file (or bytes) as the right input type, judged by its content.

    Text files become ``Text``; images, audio, video and PDFs their ``Media`` class.
    """
    if not isinstance(source, str | bytes | bytearray | os.PathLike):
        raise TypeError(
            f"ge2.load takes a path, a URI or bytes, not {type(source).__name__}; "
            "for a PIL image or a ge2 input use ge2.as_input"
        )
    if mime is not None and not isinstance(mime, str):
        raise InputError(
            f"mime must be a str such as 'image/png', not {type(mime).__name__}",
            fix="pass mime='type/subtype' or leave it out to sniff the content",
        )
    if isinstance(source, str) and source.startswith(_URI_SCHEMES):
        if not mime:
            guessed = media.mime_from_extension(source.split("?", 1)[0])
            if guessed is None:
                raise InputError(
                    "cannot tell the type of a remote URI",
                    item=source,
                    fix="pass mime=..., or use ge2.Image/Audio/Video/Pdf(uri, mime)",
                )
            mime = guessed
        cls = media_class(mime)
        if cls is None:
            raise InputError(f"unsupported type {mime}", item=source)
        return cls(source, mime)
    path: Path | None = None
    raw: bytes | None = None
    if isinstance(source, bytes | bytearray):
        raw = bytes(source)
        head = raw[: media.SNIFF_BYTES]
        label = f"<{len(source)} bytes>"
    else:
        try:
            path = Path(source)
        except TypeError as exc:  # an os.PathLike whose __fspath__ gives bytes
            raise TypeError(f"ge2.load cannot use this path ({exc}); pass a str path") from exc
        label = str(path)
        if "\x00" in label:
            raise InputError("a path cannot contain a NUL character", item=repr(label))
        if not path.is_file():
            raise InputError("no such file", item=label, fix="check the path")
        try:
            with open(path, "rb") as fh:
                head = fh.read(media.SNIFF_BYTES)
        except OSError as exc:
            raise InputError(f"unreadable file ({exc.strerror})", item=label) from exc
    if not head:
        raise InputError(
            "the file is empty (0 bytes)" if path is not None else "the data is empty (0 bytes)",
            item=label,
            fix="remove it, or write the content into it first",
        )
    sniffed = media.sniff_mime(head)
    kind = media.normalize_mime(mime) if mime else sniffed
    if kind is None and media.looks_like_legacy_text(head):
        raise InputError(
            media.utf8_problem(head) or "the text is not UTF-8", item=label, fix=media.UTF8_FIX
        )
    if kind is None:
        raise InputError(
            "unknown file type (not text, image, audio, video or PDF by its content)",
            item=label,
            fix="convert it to PNG/JPEG, MP3/WAV, MP4/MOV, PDF or UTF-8 text",
        )
    if media.modality_of(kind) == "text":
        try:
            data = raw if raw is not None else path.read_bytes() if path else b""
        except OSError as exc:
            raise InputError(f"unreadable file ({exc.strerror})", item=label) from exc
        problem = media.utf8_problem(data)
        if problem is not None:
            raise InputError(problem, item=label, fix=media.UTF8_FIX)
        text = data.decode("utf-8")
        name = None if isinstance(source, bytes | bytearray) else str(source)
        return Text(text, provenance={"source": name} if name else {})
    cls = media_class(kind)
    if cls is None:
        raise InputError(f"unsupported file type {kind}", item=label)
    return cls(bytes(source) if isinstance(source, bytes | bytearray) else source, kind)


def as_input(item: object) -> Input:
    """Turn anything ``embed`` accepts into an ``Input``: str is text, paths are loaded."""
    if isinstance(item, Text | Media | Mixed):
        return item
    if isinstance(item, str):
        return Text(item)
    if isinstance(item, os.PathLike):
        return load(item)
    if _is_pil_image(item):
        return Image(item)  # type: ignore[arg-type]
    if isinstance(item, bytes | bytearray | memoryview):
        return load(bytes(item))
    if isinstance(item, list | tuple):
        raise InputError(
            f"cannot embed a {type(item).__name__} as one input",
            fix="pass several inputs to embed([...]) (one vector each), or combine parts "
            "into one vector with ge2.Mixed([...])",
        )
    if item is None:
        raise InputError(
            "cannot embed a NoneType (the item is None)",
            fix="drop or replace the None items before embedding",
        )
    raise InputError(
        f"cannot embed a {type(item).__name__}",
        fix="pass str (text), a pathlib.Path, bytes, a PIL image, or a ge2 input "
        "(Image, Audio, Video, Pdf, Mixed)",
    )
