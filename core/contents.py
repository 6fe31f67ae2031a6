"""Turn ge2 inputs into the SDK's ``types.Content``: one Content per input, always.

Passing strings or a flat list of parts would let the SDK merge N inputs into ONE content
for gemini-embedding-2 (python-genai issue 2523); explicit Contents keep N inputs N vectors
on every SDK version. The task is applied here (through ``ge2.tasks``) and the cache key is
computed from exactly what is sent.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass

from google.genai import types

from . import limits, tasks
from .checks import CONVERTIBLE_IMAGE_MIME_TYPES
from .inputs import Image, Input, Media, Mixed, Text


def _target_mime(part: Media, vertexai: bool) -> str:
    accepted = limits.IMAGE_MIME_TYPES | (
        limits.VERTEX_EXTRA_IMAGE_MIME_TYPES if vertexai else frozenset()
    )
    convertible = part.mime not in accepted and part.mime in CONVERTIBLE_IMAGE_MIME_TYPES
    if isinstance(part, Image) and part.uri is None and convertible:
        return "image/png"
    return part.mime


def _to_png(data: bytes) -> bytes:
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(data)) as opened:
        img: PILImage.Image = opened
        if img.mode not in ("RGB", "RGBA", "L", "LA"):
            img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        return buf.getvalue()


def _media_part(part: Media, vertexai: bool) -> types.Part:
    mime = _target_mime(part, vertexai)
    if part.uri is not None:
        return types.Part(file_data=types.FileData(file_uri=part.uri, mime_type=mime))
    data = part.read()
    if mime != part.mime:
        data = _to_png(data)
    return types.Part(inline_data=types.Blob(data=data, mime_type=mime))


@dataclass(frozen=True)
class WireItem:
    """One input ready to send: call options, size, cache key; the Content is built late.

    Media bytes are read only when the item's request is built, so a cache hit or a long
    queue never holds a corpus in memory.
    """

    item: Input
    text: str | None
    task_type: str | None
    title: str | None
    nbytes: int
    tokens: int
    key: str
    vertexai: bool

    @property
    def modality(self) -> str:
        return self.item.modality

    @property
    def group(self) -> tuple[str | None, str | None]:
        """Items share one call only when they share the call-level config."""
        return (self.task_type, self.title)

    def content(self) -> types.Content:
        """The SDK Content for this input (reads media bytes now)."""
        if self.text is not None:
            return types.Content(role="user", parts=[types.Part(text=self.text)])
        parts: list[types.Part] = []
        for part in self.item.parts if isinstance(self.item, Mixed) else (self.item,):
            if isinstance(part, Text):
                parts.append(types.Part(text=part.text))
            else:
                parts.append(_media_part(part, self.vertexai))
        return types.Content(role="user", parts=parts)


def build(
    item: Input, *, model: str, task: str | None, vertexai: bool = False, tokens: int = 0
) -> WireItem:
    """Describe one input under ``task``: what text is sent, call options and cache key."""
    text: str | None = None
    title: str | None = None
    descs: list[dict[str, str]] = []
    if isinstance(item, Text):
        form = tasks.express(model, task, item.text, item.title)
        text, task_type, title = form.text, form.task_type, form.title
        descs.append({"text": text})
        nbytes = len(text.encode())
    else:
        task_type = tasks.task_type_for_media(model, task)
        nbytes = 0
        for part in item.parts if isinstance(item, Mixed) else (item,):
            if isinstance(part, Text):
                descs.append({"text": part.text})
                nbytes += len(part.text.encode())
            else:
                ref = part.uri if part.uri is not None else part.sha256()
                descs.append({"ref": ref, "mime": _target_mime(part, vertexai)})
                nbytes += part.size
    key_src = json.dumps(
        {"model": model.rsplit("/", 1)[-1], "task_type": task_type, "title": title, "parts": descs},
        sort_keys=True,
    )
    return WireItem(
        item=item,
        text=text,
        task_type=task_type,
        title=title,
        nbytes=nbytes,
        tokens=tokens,
        key=hashlib.sha256(key_src.encode()).hexdigest(),
        vertexai=vertexai,
    )
