"""What the three components share: settings, the peer-argument table, one ``ge2.Embedder``.

Parameter names follow Haystack's embedders and google-genai-haystack 7.0.0's
``GoogleGenAI*Embedder`` (same names, same meaning), so swapping the class name is enough.
``PARAMETERS`` is the one place that says what each parameter becomes in ge2.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import ge2
from ge2 import tasks, transport
from ge2.integrations._peer_options import client_options, embed_config_settings, merge_settings

try:
    from haystack import Document, component, default_from_dict, default_to_dict, logging
    from haystack.utils import Secret, deserialize_secrets_inplace
except ImportError as exc:
    raise ge2.MissingExtraError("haystack-ai", "haystack") from exc

logger = logging.getLogger(__name__)

DEFAULT_KEY = Secret.from_env_var(["GEMINI_API_KEY", "GOOGLE_API_KEY"], strict=False)
BATCH = ge2.limits.MAX_BATCH_REQUESTS
#: Where the components lived before they moved into Haystack's namespace.
_OLD_MODULE = "ge2.integrations.haystack"
_USAGE_FIELDS = ("requests", "items", "retries", "cache_hits", "failures", "tokens", "cost_usd")


#: A prefix that is already one of Google's gemini-embedding-2 instructions (google-genai-
#: haystack documents ``prefix`` for this), e.g. ``"task: search result | query: "``.
_INSTRUCTION = re.compile(r"^\s*(task:[^|]*\|\s*query:|title:[^|]*\|\s*text:)", re.IGNORECASE)


def _prefix(value: str) -> dict[str, Any]:
    """An instruction in the prefix is the task: ge2 then sends the text as it is (``raw``)."""
    return {"task": "raw"} if _INSTRUCTION.match(value) else {}


def _api(value: str) -> dict[str, Any]:
    if value not in ("gemini", "vertex"):
        raise ValueError("use 'gemini', 'vertex' or None (the SDK's environment)")
    return {"vertexai": value == "vertex"}


#: Component parameter -> the ge2 settings it becomes. Settings are ``ge2.Embedder``
#: arguments, plus ``task`` and ``title`` (the component's) and ``retry_options`` (the SDK's
#: ``HttpRetryOptions`` fields, which ge2 turns into its retry policy). Parameters that shape
#: the text or pick the files (prefix, suffix, meta_fields_to_embed, file_path_meta_field,
#: ...) are used by the components directly. ``config`` comes last: a value it implies may
#: not disagree with one set by its own parameter (``dimensions=256`` with
#: ``config={"output_dimensionality": 768}`` raises).
PARAMETERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "api": _api,
    "vertex_ai_project": lambda v: {"project": v},
    "vertex_ai_location": lambda v: {"location": v},
    "model": lambda v: {"model": v},
    "dimensions": lambda v: {"dimensions": int(v)},
    "task": lambda v: {"task": tasks.normalize_task(v)},
    "prefix": _prefix,
    # The API takes at most 100 inputs per call: a larger batch is sent as several calls.
    "batch_size": lambda n: {"batch_size": min(int(n), BATCH)},
    # True means "when it helps": ge2 shows one on a terminal for multi-batch jobs.
    "progress_bar": lambda on: {"progress": None if on else False},
    "timeout": lambda s: {"timeout": float(s)},
    # The SDK's HttpRetryOptions(attempts=max_retries), as the peer sends it: the count
    # includes the first attempt.
    "max_retries": lambda n: {"retry_options": {"attempts": int(n)}},
    "api_base_url": lambda v: {"base_url": v},
    "max_concurrency": lambda n: {"max_concurrency": int(n)},
    "cache": lambda v: {"cache": v},
    "quota": lambda v: {"quota": v},
    "overflow": lambda v: {"overflow": v},
    "config": lambda v: embed_config_settings(v, "config"),
}


_SECRET_HEADER = re.compile(r"auth|key|token|secret|cookie|password", re.IGNORECASE)


def _serialisable_config(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` as plain data; a header that looks like a credential is refused, since
    Haystack writes ``config`` into the YAML as it is."""
    config = dict(config)
    if config.get("http_options") is not None:
        http = transport.http_options_dict(config["http_options"])
        for name in http.get("headers") or {}:
            if _SECRET_HEADER.search(name):
                raise ValueError(
                    f"config['http_options']['headers'][{name!r}] looks like a credential and "
                    "would be written into the pipeline YAML; pass the key as "
                    "api_key=Secret.from_env_var(...) instead"
                )
        config["http_options"] = http
    return config


def _positive(name: str, value: Any) -> None:
    if value is not None and int(value) < 1:
        raise ValueError(f"{name}={value!r} must be at least 1")


class GE2Component:
    """Shared by all three: settings kept as given, one lazily built ``ge2.Embedder``.

    Every ``__init__`` parameter is stored under its own name, and ``to_dict`` serialises
    exactly those, so the two cannot drift apart. The key stays a ``Secret``.
    """

    #: The task when neither ``task`` nor ``config["task_type"]`` says otherwise.
    default_task: str = "document"

    api_key: Secret
    api: str | None
    vertex_ai_project: str | None
    vertex_ai_location: str | None
    model: str
    config: dict[str, Any] | None
    timeout: float | None
    max_retries: int | None
    quota: ge2.Quota | None

    def _store(self, settings: dict[str, Any]) -> None:
        """Keep every parameter, check them all now (before any request), translate once."""
        for name in inspect.signature(type(self).__init__).parameters:
            if name != "self":
                setattr(self, name, settings[name])
        self.quota = ge2.Quota.of(self.quota)  # a dict (from YAML) checked now, not at run
        _positive("batch_size", getattr(self, "batch_size", None))
        self._settings = self._translate()
        self._settings.update(
            client_options(
                self._settings.pop("http_options", None),
                timeout=self._settings.pop("timeout", None),
                retry_options=self._settings.pop("retry_options", None),
                retry_source="max_retries",
            )
        )
        self._task = self._settings.pop("task", self.default_task)
        self._title: str | None = self._settings.pop("title", None)
        self._check_title()
        self._embedder: ge2.Embedder | None = None

    def _translate(self) -> dict[str, Any]:
        settings: dict[str, Any] = {}
        for name, rule in PARAMETERS.items():
            value = getattr(self, name, None)
            if value is None:
                continue
            try:
                derived = rule(value)
            except ge2.ConfigurationError:
                raise
            except (TypeError, ValueError) as exc:
                raise ge2.ConfigurationError(f"{name}={value!r}: {exc}") from exc
            settings = merge_settings(settings, derived, name)
        return settings

    def _check_title(self) -> None:
        """``config["title"]`` names text documents; elsewhere it would be dropped."""
        if self._title is not None and self._task != "document":
            raise ge2.ConfigurationError(
                f"config['title'] goes into the document instruction, but this component "
                f"embeds with task {self._task!r}; drop the title or use task='document'"
            )

    def to_dict(self) -> dict[str, Any]:
        """Serialise the settings; the key as its environment variable names, never its value."""
        names = [n for n in inspect.signature(type(self).__init__).parameters if n != "self"]
        values = {n: getattr(self, n) for n in names}
        if values.get("image_size"):
            values["image_size"] = list(values["image_size"])  # YAML has no tuples
        if values["quota"] is not None:
            values["quota"] = dataclasses.asdict(values["quota"])
        if values["config"]:
            values["config"] = _serialisable_config(values["config"])
        return default_to_dict(self, **values)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """Rebuild from ``to_dict`` output; the key is resolved from the environment again."""
        params = dict(data.get("init_parameters", {}))
        deserialize_secrets_inplace(params, keys=["api_key"])  # explicit: older Haystack too
        if data.get("type") == f"{_OLD_MODULE}.{cls.__name__}":  # saved by an earlier ge2
            data = {**data, "type": f"{cls.__module__}.{cls.__name__}"}
        return default_from_dict(cls, {**data, "init_parameters": params})

    def warm_up(self) -> None:
        """Build the ``ge2.Embedder`` once (no request is sent); ``run`` calls it too."""
        if self._embedder is not None:
            return
        settings = dict(self._settings)
        vertex_adc = settings.get("vertexai") and self.vertex_ai_project and self.vertex_ai_location
        # As google-genai-haystack: Vertex AI with a project and location authenticates with
        # Application Default Credentials; the key is for the Gemini API or Vertex express.
        key = None if vertex_adc or not self.api_key else self.api_key.resolve_value()
        model = settings.pop("model", ge2.limits.DEFAULT_MODEL)
        self._embedder = ge2.Embedder(model, api_key=key, **settings)

    async def warm_up_async(self) -> None:
        """Async twin of ``warm_up`` (one embedder serves ``run`` and ``run_async``)."""
        self.warm_up()

    @property
    def embedder(self) -> ge2.Embedder:
        """The component's ``ge2.Embedder`` (usage counters, cache), built on first use."""
        self.warm_up()
        assert self._embedder is not None
        return self._embedder

    def close(self) -> None:
        """Release the cache file handle, if any."""
        if self._embedder is not None:
            self._embedder.close()
            self._embedder = None

    async def close_async(self) -> None:
        """Async twin of ``close``."""
        self.close()

    def _meta(self, before: ge2.Usage) -> dict[str, Any]:
        after = self.embedder.usage
        usage = {f: getattr(after, f) - getattr(before, f) for f in _USAGE_FIELDS}
        return {"model": self.model, "dimensions": self.embedder.dimensions, "usage": usage}


@dataclass
class _Job:
    """One ``run``: the Documents, their ge2 inputs, who is sent (``todo``), who failed why."""

    documents: list[Document]
    inputs: list[Any]
    failures: dict[int, str]
    before: ge2.Usage
    todo: list[int] = dataclasses.field(default_factory=list)

    @property
    def items(self) -> list[Any]:
        return [self.inputs[i] for i in self.todo]


def _reason(exc: ge2.InputError) -> str:
    """An InputError without its ``input #k`` (k counts the inputs sent, not the Documents)."""
    return f"{exc.item}: {exc.problem}" + (f". Fix: {exc.fix}" if exc.fix else "")


def _document_error(doc: Document, exc: Exception) -> ge2.InputError:
    """``exc`` as an ``InputError`` that names the Document by its id (and the media)."""
    if isinstance(exc, ge2.InputError):
        item = f"Document {doc.id!r}" + (f" ({exc.item})" if exc.item else "")
        return ge2.InputError(exc.problem, item=item, fix=exc.fix)
    problem = getattr(exc, "strerror", None) or str(exc)
    return ge2.InputError(
        problem, item=f"Document {doc.id!r}", fix="check the Document's blob or file path"
    )


class DocumentComponent(GE2Component):
    """Shared by the document embedders: skip-or-raise on failures, Documents out."""

    #: One pooled vector per Document (text), or one Document per piece (media).
    pooled: bool = False
    raise_on_failure: bool
    meta_fields_to_embed: list[str] | None
    embedding_separator: str

    def _meta_text(self, doc: Document) -> list[str]:
        fields = self.meta_fields_to_embed or []
        return [str(doc.meta[k]) for k in fields if doc.meta.get(k) is not None]

    def _inputs(self, documents: list[Document]) -> tuple[list[Any], dict[int, str]]:
        """One ge2 input per Document (None where it cannot be made) and the reasons."""
        if not isinstance(documents, list) or not all(isinstance(d, Document) for d in documents):
            raise TypeError(
                f"{type(self).__name__} expects a list of Documents as input. "
                "To embed a string, use GE2TextEmbedder."
            )
        inputs: list[Any] = []
        failures: dict[int, str] = {}
        for i, doc in enumerate(documents):
            try:
                inputs.append(self._input_of(doc))
            except (ValueError, OSError) as exc:  # ge2.InputError is a ValueError
                error = _document_error(doc, exc)
                if self.raise_on_failure:
                    raise error from exc
                inputs.append(None)
                failures[i] = str(error)
        return inputs, failures

    def _input_of(self, doc: Document) -> Any:
        raise NotImplementedError

    def _prepare_documents(self, documents: list[Document]) -> _Job:
        """The Documents as ge2 inputs, checked by the core (``Embedder.check``) before any
        request: a refused one raises ``ge2.InputError`` naming the Document, or, with
        ``raise_on_failure=False``, is set aside so one call embeds the rest."""
        job = _Job(documents, *self._inputs(documents), before=self.embedder.usage)
        job.todo = [i for i, item in enumerate(job.inputs) if item is not None]
        if job.todo:
            refused = self.embedder.check(job.items, task=self._task)
            for i, exc in zip(job.todo, refused, strict=True):
                if exc is not None and self.raise_on_failure:
                    raise _document_error(documents[i], exc) from exc
                if exc is not None:
                    job.failures[i] = _reason(exc)
            job.todo = [i for i in job.todo if i not in job.failures]
        return job

    def _embed(self, items: list[Any]) -> list[Any]:
        """Per item its vector (``pooled``) or its pieces; no call at all for no items."""
        embed = self.embedder.embed if self.pooled else self.embedder.embed_pieces
        results: list[Any] = embed(items, task=self._task) if items else []
        return results

    async def _aembed(self, items: list[Any]) -> list[Any]:
        embed = self.embedder.aembed if self.pooled else self.embedder.aembed_pieces
        results: list[Any] = await embed(items, task=self._task) if items else []
        return results

    def _partial(self, job: _Job, exc: ge2.EmbeddingError) -> list[Any]:
        """Some inputs failed at the API: keep every result that came back, report the rest."""
        if self.raise_on_failure:
            raise exc
        for failure in exc.failures:
            job.failures[job.todo[failure.index]] = str(failure.error)
        kept: list[Any] = exc.vectors if self.pooled else exc.pieces
        return kept

    def _documents_for(self, doc: Document, item: Any, result: Any) -> list[Document]:
        return [replace(doc, embedding=result)]

    def _parse_documents(self, job: _Job, results: list[Any]) -> dict[str, Any]:
        """Documents in order (a split one as its pieces), failures in ``meta["failures"]``."""
        by_position = dict(zip(job.todo, results, strict=True))
        out: list[Document] = []
        for i, doc in enumerate(job.documents):
            result = by_position.get(i)
            if result is None:
                out.append(replace(doc))  # not embedded; listed in meta["failures"]
            else:
                out.extend(self._documents_for(doc, job.inputs[i], result))
        meta = self._meta(job.before)
        if job.failures:
            meta["failures"] = [
                {"document_id": job.documents[i].id, "error": job.failures[i]}
                for i in sorted(job.failures)
            ]
            logger.warning(
                "{failed} of {total} documents were not embedded; see meta['failures']",
                failed=len(job.failures),
                total=len(job.documents),
            )
        return {"documents": out, "meta": meta}

    @component.output_types(documents=list[Document], meta=dict[str, Any])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        """Embed ``documents``: ``{"documents": [... with .embedding], "meta": {...}}``."""
        job = self._prepare_documents(documents)
        try:
            results = self._embed(job.items)
        except ge2.EmbeddingError as exc:
            results = self._partial(job, exc)
        return self._parse_documents(job, results)

    @component.output_types(documents=list[Document], meta=dict[str, Any])
    async def run_async(self, documents: list[Document]) -> dict[str, Any]:
        """Async twin of ``run``."""
        job = self._prepare_documents(documents)
        try:
            results = await self._aembed(job.items)
        except ge2.EmbeddingError as exc:
            results = self._partial(job, exc)
        return self._parse_documents(job, results)
