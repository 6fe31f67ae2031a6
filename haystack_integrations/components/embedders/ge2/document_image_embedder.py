"""``GE2DocumentImageEmbedder``: Documents holding an image, audio, video or PDF, one vector
per Document (or per piece, for a file over the model's limits)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import ge2
from ge2 import media

from ._component import BATCH, DEFAULT_KEY, DocumentComponent

try:
    from haystack import Document, component
    from haystack.utils import Secret
except ImportError as exc:
    raise ge2.MissingExtraError("haystack-ai", "haystack") from exc

__all__ = ["GE2DocumentImageEmbedder", "GE2MultimodalDocumentEmbedder"]


@component
class GE2DocumentImageEmbedder(DocumentComponent):
    """Embeds media Documents (images, audio, video, PDFs) in the same space as text.

    A drop-in for google-genai-haystack's ``GoogleGenAIMultimodalDocumentEmbedder`` (also
    importable under that shape of name, ``GE2MultimodalDocumentEmbedder``). The media is
    the Document's ``blob`` (a ``ByteStream``) or the file at ``meta[file_path_meta_field]``
    (under ``root_path``); a PDF with ``meta["page_number"]`` embeds that page. Types are
    read from the content, not the name. An input over the model's limits (a PDF over 6
    pages, a long video or clip) is split by ge2 and each piece becomes its own Document
    with ``source_id``, ``split_id`` and its page range or seconds in ``meta``.
    ``meta["embedding_source"]`` says what was embedded.
    """

    def __init__(
        self,
        *,
        api_key: Secret = DEFAULT_KEY,
        api: str | None = None,
        vertex_ai_project: str | None = None,
        vertex_ai_location: str | None = None,
        file_path_meta_field: str = "file_path",
        root_path: str | None = None,
        image_size: tuple[int, int] | None = None,
        model: str = ge2.limits.DEFAULT_MODEL,
        batch_size: int = BATCH,
        progress_bar: bool = True,
        config: dict[str, Any] | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        dimensions: int | None = None,
        task: str | None = None,
        meta_fields_to_embed: list[str] | None = None,
        embedding_separator: str = "\n",
        api_base_url: str | None = None,
        max_concurrency: int = 4,
        cache: bool | str = False,
        quota: ge2.Quota | dict[str, Any] | None = None,
        overflow: str | None = None,
        raise_on_failure: bool = True,
    ) -> None:
        """Nothing is sent until ``run``; every setting is checked now.

        :param file_path_meta_field: the meta field holding the file path (when no blob).
        :param root_path: folder the paths are relative to; a path may not escape it.
        :param image_size: (width, height) to shrink images to, keeping the aspect ratio.
        :param batch_size: Documents per API call (more than 100 go out as several calls).
        :param meta_fields_to_embed: meta values (a caption, a title) embedded together with
            the media as ONE vector, joined by ``embedding_separator``.
        :param overflow: "split" (default) embeds an over-limit input in pieces (one
            Document each); "error" refuses it.
        :param raise_on_failure: False skips Documents that cannot be embedded (no media,
            unsupported or corrupt blob, missing file) and lists them in ``meta["failures"]``.

        The rest are ``GE2DocumentEmbedder``'s.
        """
        self._store(locals())
        self.image_size = (int(image_size[0]), int(image_size[1])) if image_size else None

    file_path_meta_field: str
    root_path: str | None
    image_size: tuple[int, int] | None

    def _check_title(self) -> None:
        if self._title is not None:
            raise ge2.ConfigurationError(
                "config['title'] names text documents; this component embeds media, which "
                "takes no instruction: put a caption in meta_fields_to_embed instead"
            )

    def _path(self, doc: Document) -> Path:
        """The file named in the Document's meta, kept inside ``root_path`` when one is set."""
        root = self.root_path
        path = Path(root or "", str(doc.meta[self.file_path_meta_field]))
        if root:
            path = path.resolve()
            if not path.is_relative_to(Path(root).resolve()):
                raise ValueError(f"file path escapes root_path {root!r}: {path}")
        if not path.is_file():
            raise ValueError(f"no such file: {path}")
        return path

    def _input_of(self, doc: Document) -> ge2.Input:
        field = self.file_path_meta_field
        if doc.blob is not None:
            item = ge2.load(doc.blob.data, mime=doc.blob.mime_type)
        elif doc.meta.get(field) is not None:
            item = ge2.load(self._path(doc))
        else:
            raise ValueError(
                f"no media to embed: no blob and no meta[{field!r}] "
                "(text-only Documents go to GE2DocumentEmbedder)"
            )
        if isinstance(item, ge2.Text):
            raise ValueError(
                "the media is text, not an image, audio, video or PDF "
                "(text goes to GE2DocumentEmbedder)"
            )
        if isinstance(item, ge2.Pdf) and doc.meta.get("page_number") is not None:
            item = item.pages(int(doc.meta["page_number"]))
        if isinstance(item, ge2.Image) and self.image_size:
            item = _shrunk(item, self.image_size)
        caption = self._meta_text(doc)
        return ge2.Mixed([self.embedding_separator.join(caption), item]) if caption else item

    def _documents_for(self, doc: Document, item: Any, result: Any) -> list[Document]:
        pieces: list[ge2.Piece] = result
        media = item.parts[-1] if isinstance(item, ge2.Mixed) else item
        source: dict[str, Any] = {"type": media.modality}
        if doc.blob is not None:
            source["blob"] = True
        else:
            source["file_path_meta_field"] = self.file_path_meta_field
        if self.meta_fields_to_embed:
            source["meta_fields_to_embed"] = list(self.meta_fields_to_embed)
        meta = {**doc.meta, "embedding_source": source}
        if len(pieces) == 1:
            return [replace(doc, meta=meta, embedding=pieces[0].vector)]
        out = []
        for split_id, piece in enumerate(pieces):
            where = {k: v for k, v in piece.provenance.items() if k != "source"}
            piece_meta = {**meta, **where, "source_id": doc.id, "split_id": split_id}
            if "page_start" in where:
                piece_meta["page_number"] = where["page_start"]
            out.append(
                Document(
                    content=doc.content, blob=doc.blob, meta=piece_meta, embedding=piece.vector
                )
            )
        return out


#: google-genai-haystack's name, so replacing ``GoogleGenAIMultimodalDocumentEmbedder`` is one edit.
GE2MultimodalDocumentEmbedder = GE2DocumentImageEmbedder


def _shrunk(image: ge2.Image, size: tuple[int, int]) -> ge2.Image:
    """The image scaled down to fit ``size`` (aspect kept); a smaller image is left alone.

    The core reads the header first and decodes within its pixel limit (a large JPEG at
    reduced scale), so a damaged image or a pixel bomb is an ``InputError``, not Pillow's.
    """
    try:
        info = media.image_header(image.source())
        if info.width <= size[0] and info.height <= size[1]:
            return image
        img = media.decode_for_display(image.source(), size)
    except ValueError as exc:
        fix = media.PIXEL_FIX if "pixels" in str(exc) else "re-save the image as PNG or JPEG"
        raise ge2.InputError(str(exc), item=image.label, fix=fix) from exc
    img.thumbnail(size)
    return ge2.Image(img)
