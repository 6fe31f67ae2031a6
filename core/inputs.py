"""What can be embedded: text, media (image, audio, video, PDF) and mixed inputs.

Plain ``str`` is always text. Media come from a path, bytes (+ optional MIME type), a PIL
image, or a ``gs://`` / ``https://`` URI; their type is read from their content, not
trusted from a name. Media bytes stay on disk until a request needs them.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

from . import media
from .errors import InputError

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

_URI_SCHEMES = ("gs://", "https://", "http://")


@dataclass(frozen=True)
class Text:
    """A text input; ``title`` feeds the document instruction (``title: ... | text: ...``)."""

    text: str
    title: str | None = None
    provenance: Mapping[str, Any] = field(default_factory=dict, compare=False)

    modality: ClassVar[str] = "text"

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
        if isinstance(source, bytes | bytearray | memoryview):
            self._data = bytes(source)
        elif isinstance(source, str) and source.startswith(_URI_SCHEMES):
            self.uri = source
        elif isinstance(source, str | os.PathLike):
            self.path = Path(source)
        elif _is_pil_image(source):
            buf = io.BytesIO()
            source.save(buf, format="PNG")
            self._data = buf.getvalue()
            mime = mime or "image/png"
        else:
            raise InputError(
                f"cannot make a {type(self).__name__} from {type(source).__name__}",
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
                except OSError:
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

        last = first if last is None else last
        try:
            reader = PdfReader(io.BytesIO(self.read()))
            count = len(reader.pages)
        except (PdfReadError, OSError) as exc:
            raise InputError(f"not a readable PDF ({exc})", item=self.label) from exc
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
    if isinstance(source, bytes | bytearray):
        head = bytes(source[: media.SNIFF_BYTES])
        label = f"<{len(source)} bytes>"
    else:
        path = Path(source)
        label = str(path)
        if not path.is_file():
            raise InputError("no such file", item=label, fix="check the path")
        try:
            with open(path, "rb") as fh:
                head = fh.read(media.SNIFF_BYTES)
        except OSError as exc:
            raise InputError(f"unreadable file ({exc.strerror})", item=label) from exc
    sniffed = media.sniff_mime(head)
    kind = media.normalize_mime(mime) if mime else sniffed
    if kind is None:
        raise InputError(
            "unknown file type (not text, image, audio, video or PDF by its content)",
            item=label,
            fix="convert it to PNG/JPEG, MP3/WAV, MP4/MOV, PDF or UTF-8 text",
        )
    if media.modality_of(kind) == "text":
        data = bytes(source) if isinstance(source, bytes | bytearray) else Path(source).read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError("text file is not UTF-8", item=label) from exc
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
    if isinstance(item, bytes | bytearray):
        return load(bytes(item))
    raise InputError(
        f"cannot embed a {type(item).__name__}",
        fix="pass str (text), a pathlib.Path, bytes, a PIL image, or a ge2 input "
        "(Image, Audio, Video, Pdf, Mixed)",
    )
