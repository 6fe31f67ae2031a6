"""``ge2 serve``: search a store in the browser (a small Starlette app, no build step)."""

from __future__ import annotations

from .app import MAX_UPLOAD_BYTES, create_app, new_token

__all__ = ["MAX_UPLOAD_BYTES", "create_app", "new_token"]
