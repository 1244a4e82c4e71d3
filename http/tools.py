"""Built-in tools (GoClaw's ``/v1/tools/builtin*``) and ``POST /v1/tools/invoke``.

Everything acts on the caller's tenant: its enable and settings of each tool, and an invocation as
its agent (``agentId`` or the default) and user. Reads viewer, changes admin (GoClaw marks the tenant-config changes admin) (``exec`` and private
``web_fetch`` hosts: the gateway's owner), invoke operator.
"""

from __future__ import annotations

from msgspec import Struct

from clawgate.principal import Role
from clawgate.services.builtin_tools import (
    BuiltinTool,
    InvokeBody,
    InvokeResult,
    TenantConfig,
    TenantConfigBody,
    ToolUpdate,
)

from .types import Api, HttpContext

__all__ = ["ROUTES"]


class ToolList(Struct):
    tools: list[BuiltinTool]


class Status(Struct):
    """GoClaw's answer to a change: ``{"status": "updated"}`` / ``"deleted"``."""

    status: str


async def list_tools(ctx: HttpContext, _: None) -> ToolList:
    return ToolList(tools=await ctx.gateway.builtin_tools.list_tools(ctx.who))


async def get_tool(ctx: HttpContext, _: None) -> BuiltinTool:
    return await ctx.gateway.builtin_tools.get_tool(ctx.who, ctx.path["name"])


async def update_tool(ctx: HttpContext, body: ToolUpdate) -> Status:
    await ctx.gateway.builtin_tools.update(ctx.who, ctx.path["name"], body)
    return Status(status="updated")


async def get_tenant_config(ctx: HttpContext, _: None) -> TenantConfig:
    return await ctx.gateway.builtin_tools.tenant_config(ctx.who, ctx.path["name"])


async def set_tenant_config(ctx: HttpContext, body: TenantConfigBody) -> TenantConfig:
    return await ctx.gateway.builtin_tools.set_tenant_config(ctx.who, ctx.path["name"], body)


async def delete_tenant_config(ctx: HttpContext, _: None) -> Status:
    await ctx.gateway.builtin_tools.delete_tenant_config(ctx.who, ctx.path["name"])
    return Status(status="deleted")


async def invoke(ctx: HttpContext, body: InvokeBody) -> InvokeResult:
    return await ctx.gateway.builtin_tools.invoke(ctx.who, body, ctx.gateway.runner.tool_context)


_BUILTIN = "/v1/tools/builtin"
_TAG = "tools"

ROUTES = [
    Api("GET", _BUILTIN, list_tools, Role.VIEWER, "Built-in tools with the tenant's enable and settings",
        response=ToolList, tag=_TAG),
    Api("GET", f"{_BUILTIN}/{{name}}", get_tool, Role.VIEWER, "One built-in tool's definition",
        response=BuiltinTool, tag=_TAG),
    Api("PUT", f"{_BUILTIN}/{{name}}", update_tool, Role.ADMIN,
        "Set the tenant's enabled/settings of a built-in tool (exec, private web_fetch hosts: owner)",
        body=ToolUpdate, response=Status, tag=_TAG),
    Api("GET", f"{_BUILTIN}/{{name}}/tenant-config", get_tenant_config, Role.VIEWER,
        "The tenant's override of a built-in tool", response=TenantConfig, tag=_TAG),
    Api("PUT", f"{_BUILTIN}/{{name}}/tenant-config", set_tenant_config, Role.ADMIN,
        "Set the tenant's override (enabled) of a built-in tool", body=TenantConfigBody,
        response=TenantConfig, tag=_TAG),
    Api("DELETE", f"{_BUILTIN}/{{name}}/tenant-config", delete_tenant_config, Role.ADMIN,
        "Remove the tenant's override and settings (the defaults apply)", response=Status, tag=_TAG),
    Api("POST", "/v1/tools/invoke", invoke, Role.OPERATOR,
        "Run a built-in tool as the caller's tenant, agent and user (dryRun: check, say what would run)",
        body=InvokeBody, response=InvokeResult, tag=_TAG),
]  # fmt: skip
