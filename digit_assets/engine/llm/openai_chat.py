"""The LLM port over the ``openai`` client: any OpenAI-compatible base URL, structured output.

Each role is one chat completion: the role's instructions as the system message, the request as
JSON as the user message, and ``response_format`` carrying the response model's JSON Schema. The
answer is validated by pydantic; anything else (a body that is not JSON, no choices, no content, a
content that does not match the model) is :class:`LLMOutputInvalid`. The API key is held by the
client only: never put in a label, a log line, an error message or a returned value.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import openai
from pydantic import ValidationError

from digit_assets.engine.llm.port import LLMError, LLMOutputInvalid, Req, Resp, Role

_SEED_RANGE = 2**31 - 1


class OpenAIChatLLM:
    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        temperature: float = 0.0,
        timeout_s: float = 60.0,
        max_retries: int = 3,
    ):
        self.model = model
        self.temperature = temperature
        self._host = _host_of(base_url) if base_url else "api.openai.com"
        self._secret = api_key
        # Local servers (vLLM, Ollama, llama.cpp) accept any key; the client insists on one.
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "unused", timeout=timeout_s, max_retries=max_retries
        )

    @property
    def label(self) -> str:
        return f"openai:{self.model}@{self._host}"

    def _redacted(self, text: str) -> str:
        """Error texts and replies may echo what was sent; the key is masked before they go anywhere."""
        return text.replace(self._secret, "***") if self._secret else text

    def call(self, role: Role[Req, Resp], request: Req, *, seed: int) -> Resp:
        messages = [
            {"role": "system", "content": role.instructions + "\nReply with one JSON object matching the schema."},
            {"role": "user", "content": request.model_dump_json()},
        ]
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": role.name, "schema": role.response_model.model_json_schema(), "strict": False},
        }
        try:
            # The raw body: the client's own parsing lets a malformed 200 through as AttributeError.
            raw = self._client.chat.completions.with_raw_response.create(
                model=self.model,
                messages=messages,
                temperature=self.temperature,
                seed=seed % _SEED_RANGE,
                response_format=response_format,
            )
        except openai.OpenAIError as exc:
            raise LLMError(role.name, f"{type(exc).__name__}: {self._redacted(str(exc))}") from exc
        content = self._redacted(_message_content(role.name, raw.text))
        try:
            return role.response_model.model_validate_json(content)
        except ValidationError as exc:
            raise LLMOutputInvalid(role.name, f"response does not match {role.response_model.__name__}: {exc}") from exc


def _host_of(base_url: str) -> str:
    """Host and port only: a URL's user-info part may carry credentials."""
    parts = urlsplit(base_url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def _message_content(role: str, body: str) -> str:
    """The first choice's message text from a chat-completion body, checked step by step."""
    try:
        completion: Any = json.loads(body)
    except ValueError as exc:
        raise LLMOutputInvalid(role, f"the server's reply is not JSON: {exc}") from exc
    choices = completion.get("choices") if isinstance(completion, dict) else None
    if not isinstance(choices, list) or not choices:
        raise LLMOutputInvalid(role, "the server returned no choices")
    message = choices[0].get("message") if isinstance(choices[0], dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str) or not content:
        raise LLMOutputInvalid(role, "the server returned an empty message")
    return content
