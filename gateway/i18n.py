"""Localised message catalogue for errors (en, vi, zh), chosen by connect ``locale`` or
``Accept-Language``. Templates use ``str.format`` fields; unknown locales fall back to English.
A field is what the client sent more often than not (a path, a header, a field name): each is cut to
``ECHO_LIMIT`` characters, so that no message sends a large input back."""

from __future__ import annotations

from typing import Final

__all__ = ["ECHO_LIMIT", "LOCALES", "clip", "negotiate", "render"]

LOCALES: Final = ("en", "vi", "zh")
ECHO_LIMIT: Final = 512

_CATALOG: Final[dict[str, dict[str, str]]] = {
    "invalid_request": {
        "en": "invalid request: {detail}",
        "vi": "yêu cầu không hợp lệ: {detail}",
        "zh": "无效请求：{detail}",
    },
    "invalid_json": {
        "en": "malformed JSON: {detail}",
        "vi": "JSON không hợp lệ: {detail}",
        "zh": "JSON 格式错误：{detail}",
    },
    "invalid_frame": {
        "en": "invalid frame: {detail}",
        "vi": "khung không hợp lệ: {detail}",
        "zh": "无效帧：{detail}",
    },
    "unknown_method": {
        "en": "unknown method: {method}",
        "vi": "phương thức không xác định: {method}",
        "zh": "未知方法：{method}",
    },
    "first_request_connect": {
        "en": "first request must be connect",
        "vi": "yêu cầu đầu tiên phải là connect",
        "zh": "第一个请求必须是 connect",
    },
    "unauthorized": {
        "en": "valid token required",
        "vi": "cần token hợp lệ",
        "zh": "需要有效的令牌",
    },
    "no_credential": {
        "en": "no credential: send the gateway token or an API key as Authorization: Bearer <token> (or x-api-key: <key>)",
        "vi": "thiếu thông tin xác thực: gửi token gateway hoặc khóa API qua Authorization: Bearer <token> (hoặc x-api-key: <key>)",
        "zh": "缺少凭据：请以 Authorization: Bearer <token>（或 x-api-key: <key>）发送网关令牌或 API 密钥",
    },
    "not_bearer": {
        "en": "the Authorization header holds no bearer token: send Authorization: Bearer <gateway token or API key>",
        "vi": "header Authorization không chứa token Bearer: gửi Authorization: Bearer <token gateway hoặc khóa API>",
        "zh": "Authorization 头中没有 Bearer 令牌：请发送 Authorization: Bearer <网关令牌或 API 密钥>",
    },
    "unknown_credential": {
        "en": "invalid token: neither the gateway token nor a known API key",
        "vi": "token không hợp lệ: không phải token gateway cũng không phải khóa API đã biết",
        "zh": "令牌无效：既不是网关令牌，也不是已知的 API 密钥",
    },
    "key_expired_dev": {
        "en": "API key has expired (development mode: no gateway token is configured; send no credential to act as the local admin)",
        "vi": "khóa API đã hết hạn (chế độ phát triển: chưa cấu hình token gateway; không gửi thông tin xác thực để dùng quyền quản trị cục bộ)",
        "zh": "API 密钥已过期（开发模式：未配置网关令牌；不发送凭据即以本地管理员身份访问）",
    },
    "key_revoked_dev": {
        "en": "API key has been revoked (development mode: no gateway token is configured; send no credential to act as the local admin)",
        "vi": "khóa API đã bị thu hồi (chế độ phát triển: chưa cấu hình token gateway; không gửi thông tin xác thực để dùng quyền quản trị cục bộ)",
        "zh": "API 密钥已被撤销（开发模式：未配置网关令牌；不发送凭据即以本地管理员身份访问）",
    },
    "key_expired": {
        "en": "API key has expired",
        "vi": "khóa API đã hết hạn",
        "zh": "API 密钥已过期",
    },
    "key_revoked": {
        "en": "API key has been revoked",
        "vi": "khóa API đã bị thu hồi",
        "zh": "API 密钥已被撤销",
    },
    "requires_role": {
        "en": "{action} requires {role} role",
        "vi": "{action} yêu cầu quyền {role}",
        "zh": "{action} 需要 {role} 角色",
    },
    "scopes_not_held": {
        "en": "a key may not grant scopes its creator lacks: {scopes}",
        "vi": "khóa không được cấp phạm vi mà người tạo không có: {scopes}",
        "zh": "密钥不能授予创建者没有的权限范围：{scopes}",
    },
    "not_a_member": {
        "en": "user is not a member of tenant {tenant}",
        "vi": "người dùng không thuộc tenant {tenant}",
        "zh": "用户不是租户 {tenant} 的成员",
    },
    "not_found": {
        "en": "{kind} not found: {id}",
        "vi": "không tìm thấy {kind}: {id}",
        "zh": "未找到{kind}：{id}",
    },
    "route_not_found": {
        "en": "no route for {method} {path}",
        "vi": "không có đường dẫn cho {method} {path}",
        "zh": "没有 {method} {path} 的路由",
    },
    "method_not_allowed": {
        "en": "method {method} not allowed on {path}",
        "vi": "không cho phép phương thức {method} trên {path}",
        "zh": "{path} 不允许 {method} 方法",
    },
    "already_exists": {
        "en": "{kind} already exists: {id}",
        "vi": "{kind} đã tồn tại: {id}",
        "zh": "{kind}已存在：{id}",
    },
    "failed_precondition": {
        "en": "{detail}",
        "vi": "{detail}",
        "zh": "{detail}",
    },
    "config_changed": {
        "en": "config changed since it was read (baseHash mismatch); read it again",
        "vi": "cấu hình đã thay đổi (baseHash không khớp); hãy đọc lại",
        "zh": "配置已更改（baseHash 不匹配），请重新读取",
    },
    "rate_limited": {
        "en": "rate limit exceeded; retry in {seconds} s",
        "vi": "vượt quá giới hạn tần suất; thử lại sau {seconds} giây",
        "zh": "超出速率限制；请在 {seconds} 秒后重试",
    },
    "body_too_large": {
        "en": "request body exceeds {limit} bytes",
        "vi": "nội dung yêu cầu vượt quá {limit} byte",
        "zh": "请求体超过 {limit} 字节",
    },
    "document_too_large": {
        "en": "the document has {size} characters; at most {limit} are accepted",
        "vi": "tài liệu có {size} ký tự; chỉ chấp nhận tối đa {limit}",
        "zh": "文档有 {size} 个字符；最多接受 {limit} 个",
    },
    "unavailable": {
        "en": "service unavailable: {detail}",
        "vi": "dịch vụ không khả dụng: {detail}",
        "zh": "服务不可用：{detail}",
    },
    "database_unavailable": {
        "en": "database unavailable; retry shortly",
        "vi": "cơ sở dữ liệu không khả dụng; hãy thử lại sau",
        "zh": "数据库不可用，请稍后重试",
    },
    "answer_not_recorded": {
        "en": "the answer was not recorded, so it is not delivered; retry shortly",
        "vi": "câu trả lời chưa được lưu nên không được gửi; hãy thử lại sau",
        "zh": "回答未能记录，因此不予返回；请稍后重试",
    },
    "internal": {
        "en": "internal error (request {request_id})",
        "vi": "lỗi nội bộ (yêu cầu {request_id})",
        "zh": "内部错误（请求 {request_id}）",
    },
    "unknown_tenant": {
        "en": "unknown tenant {tenant}",
        "vi": "tenant không tồn tại: {tenant}",
        "zh": "未知租户：{tenant}",
    },
    "unsupported_media_type": {
        "en": "Content-Type {content_type} is not accepted: send the body as JSON with "
        "Content-Type: application/json (curl: --json, or -H 'Content-Type: application/json')",
        "vi": "Content-Type {content_type} không được chấp nhận: hãy gửi nội dung JSON với "
        "Content-Type: application/json (curl: --json, hoặc -H 'Content-Type: application/json')",
        "zh": "不接受 Content-Type {content_type}：请以 JSON 发送请求体，并设置 "
        "Content-Type: application/json（curl：--json 或 -H 'Content-Type: application/json'）",
    },
    "tenant_access_revoked": {
        "en": "access to tenant {tenant} is revoked",
        "vi": "quyền truy cập tenant {tenant} đã bị thu hồi",
        "zh": "对租户 {tenant} 的访问已被撤销",
    },
    "not_implemented": {
        "en": "{feature} is not implemented",
        "vi": "{feature} chưa được hỗ trợ",
        "zh": "{feature} 尚未实现",
    },
    "upstream_error": {
        "en": "upstream provider error: {detail}",
        "vi": "lỗi từ nhà cung cấp: {detail}",
        "zh": "上游提供方错误：{detail}",
    },
    "run_failed": {
        "en": "{detail}",
        "vi": "{detail}",
        "zh": "{detail}",
    },
}


def negotiate(header: str | None) -> str:
    """Pick a supported locale from an ``Accept-Language`` header or a bare locale code."""
    if not header:
        return "en"
    best, best_q = "en", -1.0
    for item in header.split(","):
        lang, _, params = item.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        code = lang.strip().lower().split("-")[0]
        if code in LOCALES and q > best_q:
            best, best_q = code, q
    return best


def render(key: str, locale: str, params: dict[str, object]) -> str:
    """Format message ``key`` for ``locale``; missing fields render as ``?``."""
    templates = _CATALOG.get(key) or _CATALOG["failed_precondition"]
    template = templates.get(locale) or templates["en"]
    return template.format_map(_Default({k: clip(v) if isinstance(v, str) else v for k, v in params.items()}))


def clip(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text`` cut to ``limit`` characters (the cut marked with an ellipsis)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Default(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "?"
