"""The LLM port: every LLM role of the method goes through one interface with two implementations."""

from digit_assets.engine.llm.port import LLM, LLMError, LLMOutputInvalid, LLMUnavailable, Role

__all__ = ["LLM", "LLMError", "LLMOutputInvalid", "LLMUnavailable", "Role"]
