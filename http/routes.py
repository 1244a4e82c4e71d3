"""The flat route table: every REST module's ``ROUTES``; and the WebSocket endpoint, served as a
plain ASGI app by ``StaticRoutes`` (``static_sockets``)."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from clawgate.rpc.endpoint import websocket_app

from . import (
    agents,
    api_keys,
    clawtasker,
    cron,
    health,
    home,
    kg,
    mc_agent,
    mc_agents,
    mc_groups,
    mc_org,
    mc_sessions,
    mc_tags,
    mc_webhooks,
    mcp,
    memory,
    mission_control,
    openai,
    providers,
    sessions,
    skills,
    system_configs,
    teams,
    tenants,
    tools,
    vault,
)
from .middleware import Endpoint
from .openapi import openapi_routes
from .routing import make_route
from .types import Api

__all__ = ["ROUTES", "all_apis", "build_routes", "static_endpoints", "static_sockets"]

# Starlette matches routes in order: the hottest paths (probes, the OpenAI API) come first.
ROUTES: list[Api] = [
    *health.ROUTES,
    *openai.ROUTES,
    *agents.ROUTES,
    *api_keys.ROUTES,
    *tenants.ROUTES,
    *providers.ROUTES,
    *system_configs.ROUTES,
    *sessions.ROUTES,
    *memory.ROUTES,
    *cron.ROUTES,
    *vault.ROUTES,
    *kg.ROUTES,
    *tools.ROUTES,
    *skills.ROUTES,
    *mcp.ROUTES,
    *teams.ROUTES,
    *mission_control.ROUTES,
    *mc_webhooks.ROUTES,
    *mc_agent.ROUTES,
    *mc_groups.ROUTES,
    *mc_tags.ROUTES,
    *mc_sessions.ROUTES,  # before mc_org: /gateways/commands is no {gateway_id}
    *mc_org.ROUTES,
    *mc_agents.ROUTES,
    *clawtasker.ROUTES,
]


def _check_unique(routes: list[Api]) -> None:
    seen: set[tuple[str, str]] = set()
    for api in routes:
        key = (api.method, api.path)
        if key in seen:
            raise RuntimeError(f"duplicate route {api.method} {api.path}")
        seen.add(key)


def all_apis() -> list[Api]:
    """Every REST route: ``ROUTES``, the page at ``/`` and the documentation routes (which describe
    all the others)."""
    table = [*ROUTES, *home.ROUTES]
    table += openapi_routes(table)
    _check_unique(table)
    return table


def build_routes() -> list[BaseRoute]:
    return [make_route(api) for api in all_apis()]


def static_endpoints(routes: list[BaseRoute]) -> dict[tuple[str, str], Endpoint]:
    """``(method, path) -> endpoint`` for the routes without path parameters (``StaticRoutes``)."""
    table: dict[tuple[str, str], Endpoint] = {}
    for route in routes:
        if isinstance(route, Route) and not route.param_convertors:
            for method in route.methods or ():
                if method != "HEAD":
                    table[(method, route.path)] = route.endpoint
    return table


def static_sockets() -> dict[str, ASGIApp]:
    """WebSocket path -> plain ASGI app, for ``StaticRoutes``: ``GET /ws``, the RPC protocol."""
    return {"/ws": websocket_app}
