"""LLM provider adapters over their real wire protocols (``aiohttp``'s client).

``openai_compat`` covers OpenAI and every server that speaks its API (OpenRouter, Groq, DeepSeek,
Ollama, vLLM, LM Studio ...); ``anthropic_native`` speaks Anthropic's Messages API.
"""

from clawgate.providers.base import PROVIDER_TYPES, ProviderClient, client_for, configured_type

__all__ = ["PROVIDER_TYPES", "ProviderClient", "client_for", "configured_type"]
