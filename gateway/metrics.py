"""Prometheus metrics (``GET /metrics``, the text exposition format of ``prometheus-client``).

Counters and histograms live in this module, counted where things happen: HTTP requests by route
template (``clawgate.http.middleware``), RPC calls by method and outcome (``clawgate.rpc.dispatch``),
finished runs by status and LLM tokens by provider and model (``clawgate.runtime.runs`` and the
OpenAI-compatible exchanges), group-writer batches (``clawgate.writer``). Gauges of one gateway's
state (WebSocket clients, the database pool) are read when scraped (``render``).

With ``--workers N`` every worker writes its counters and histograms to files of ``prometheus-client``'s
multiprocess mode (``clawgate.workers`` sets the directory), and any worker's scrape answers their sum;
the gauges are of the worker that answered (see README, "Metrics").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from clawgate.config import worker_count
from clawgate.errors import Forbidden, Unauthorized
from clawgate.principal import Principal, Role

if TYPE_CHECKING:
    from clawgate.state import Gateway

__all__ = [
    "CONTENT_TYPE",
    "HTTP_LATENCY",
    "HTTP_REQUESTS",
    "RPC_CALLS",
    "RUNS",
    "TOKENS",
    "UNMATCHED",
    "WRITER_BATCHES",
    "WRITER_BATCH_SIZE",
    "authorize",
    "count_rpc",
    "count_tokens",
    "observe_http",
    "render",
]

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED: Final = "<unmatched>"
"""The route label of a request no route answered (a 404, a refused upgrade): its raw path would let
any client add label values without bound."""

HTTP_REQUESTS = Counter(
    "clawgate_http_requests", "HTTP requests answered, by route template and status.",
    ["method", "route", "status"],
)  # fmt: skip
HTTP_LATENCY = Histogram(
    "clawgate_http_request_duration_seconds", "HTTP request duration (to the last byte sent), by route template.",
    ["method", "route"], buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)  # fmt: skip
RPC_CALLS = Counter(
    "clawgate_rpc_calls", "WebSocket RPC calls, by method and outcome (ok, or the error code).",
    ["method", "outcome"],
)  # fmt: skip
RUNS = Counter("clawgate_runs", "Agent runs finished, by final status.", ["status"])
TOKENS = Counter(
    "clawgate_llm_tokens", "LLM tokens, by provider, model and direction (input, output).",
    ["provider", "model", "direction"],
)  # fmt: skip
WRITER_BATCHES = Counter("clawgate_writer_batches", "Group-writer batches written (one commit each).")
WRITER_BATCH_SIZE = Histogram(
    "clawgate_writer_batch_size", "Items per group-writer batch.", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256)
)


_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_http: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe_http(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered HTTP request. ``route`` is a route template or ``UNMATCHED``; a method
    outside HTTP's usual ones counts as ``OTHER`` (any token is a valid method: left as it came, a
    client could add label values without bound). The labelled children are looked up once per
    combination (``labels()`` costs more than the count itself)."""
    label = method if method in _METHODS else "OTHER"
    key = (label, route, status)
    children = _http.get(key)
    if children is None:
        children = _http[key] = (
            HTTP_REQUESTS.labels(label, route, str(status)),
            HTTP_LATENCY.labels(label, route),
        )
    children[0].inc()
    children[1].observe(seconds)


_children: dict[tuple[Any, tuple[str, ...]], Any] = {}


def _child(metric: Any, *values: str) -> Any:
    """``metric.labels(*values)``, looked up once per combination (for bounded label values)."""
    key = (metric, values)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*values)
    return child


def count_rpc(method: str, outcome: str) -> None:
    """Count one RPC call; ``method`` is a method of the table or ``UNMATCHED``, ``outcome`` ``ok``
    or an error code (both bounded sets)."""
    _child(RPC_CALLS, method, outcome).inc()


def count_run(status: str) -> None:
    """Count one finished run by its final status (a bounded set)."""
    _child(RUNS, status).inc()


def count_tokens(provider: str, model: str, input_tokens: int, output_tokens: int) -> None:
    """Add one LLM call's usage to ``clawgate_llm_tokens`` (providers and models are configured)."""
    _child(TOKENS, provider, model, "input").inc(input_tokens)
    _child(TOKENS, provider, model, "output").inc(output_tokens)


class _GatewayState(Collector):
    """Gauges read from one gateway when scraped."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def collect(self) -> Iterable[Metric]:
        gateway = self._gateway
        yield GaugeMetricFamily(
            "clawgate_websocket_clients",
            "WebSocket clients connected (past connect).",
            value=len(gateway.clients),
        )
        pool = gateway.db.pool
        size, idle = pool.get_size(), pool.get_idle_size()
        yield GaugeMetricFamily("clawgate_db_pool_size", "Connections the database pool holds.", value=size)
        yield GaugeMetricFamily("clawgate_db_pool_in_use", "Pool connections lent out.", value=size - idle)
        yield GaugeMetricFamily(
            "clawgate_db_pool_max", "Most connections the pool opens.", value=pool.get_max_size()
        )


def authorize(who: Principal | None) -> None:
    """Who may scrape when ``metrics.public`` is off: the gateway token, a system (cross-tenant)
    admin key, an owner, or development mode. A tenant's admin key may not: the figures span every
    tenant (provider and model names among them). Raises: Unauthorized (no credential), Forbidden."""
    if who is None:
        raise Unauthorized()
    if who.role < Role.ADMIN or not (who.via in {"token", "dev"} or who.cross_tenant or who.is_owner):
        raise Forbidden(action="GET /metrics", role="gateway-wide admin")


def render(gateway: Gateway) -> bytes:
    """This module's metrics followed by ``gateway``'s gauges, in the text exposition format: one
    process's (with ``prometheus-client``'s process and platform collectors), or with ``--workers``
    every worker's summed (multiprocess mode)."""
    counted = REGISTRY
    if worker_count(gateway.settings.gateway.workers) > 1:
        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)  # type: ignore[no-untyped-call]  # the library is untyped there
    state = CollectorRegistry(auto_describe=False)
    state.register(_GatewayState(gateway))
    return generate_latest(counted) + generate_latest(state)
