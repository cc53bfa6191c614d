"""The LLM port over the ``openai`` client: any OpenAI-compatible base URL, structured output.

Each role is one chat completion: the role's instructions as the system message, the request as
JSON as the user message, and ``response_format`` carrying the response model's JSON Schema. The
answer is validated by pydantic; anything else is :class:`LLMOutputInvalid`. The API key is held by
the client only: never put in a label, a log line or an error message.
"""

from __future__ import annotations

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
        self._host = urlsplit(base_url).netloc if base_url else "api.openai.com"
        self._secret = api_key
        # Local servers (vLLM, Ollama, llama.cpp) accept any key; the client insists on one.
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "unused", timeout=timeout_s, max_retries=max_retries
        )

    @property
    def label(self) -> str:
        return f"openai:{self.model}@{self._host}"

    def _redacted(self, text: str) -> str:
        """Error texts may echo what was sent; the key is masked before they go anywhere."""
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
            completion = self._client.chat.completions.create(
                model=self.model,
                messages=messages,
                temperature=self.temperature,
                seed=seed % _SEED_RANGE,
                response_format=response_format,
            )
        except openai.OpenAIError as exc:
            raise LLMError(role.name, f"{type(exc).__name__}: {self._redacted(str(exc))}") from exc
        if not completion.choices:
            raise LLMOutputInvalid(role.name, "the server returned no choices")
        content = completion.choices[0].message.content
        if not content:
            raise LLMOutputInvalid(role.name, "the server returned an empty message")
        try:
            return role.response_model.model_validate_json(content)
        except ValidationError as exc:
            raise LLMOutputInvalid(role.name, f"response does not match {role.response_model.__name__}: {exc}") from exc
