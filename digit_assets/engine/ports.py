"""The LLM port a run uses, built from plain settings: the default route and each role's own, each
either the embedded offline engine or a server.

Settings rather than clients, so a recipe can cross into the processes that roll conversations out
(:mod:`digit_assets.engine.synthesis.processes`): each process builds its own clients from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from digit_assets.engine.llm import LLM
from digit_assets.engine.llm.openai_chat import OpenAIChatLLM, OpenAIChatSettings
from digit_assets.engine.llm.routing import RoutedLLM
from digit_assets.engine.llm.usage import UsageMeter
from digit_assets.engine.offline.dispatch import default_offline_llm


@dataclass(frozen=True)
class PortRecipe:
    """``default`` answers every role without a route of its own in ``by_role``; ``None`` is the
    offline engine. Holds the API key when there is one (``OpenAIChatSettings`` keeps it out of its repr)."""

    default: OpenAIChatSettings | None = None
    by_role: Mapping[str, OpenAIChatSettings | None] = field(default_factory=dict)

    @property
    def remote(self) -> bool:
        """Whether any role goes to a server."""
        return self.default is not None or any(route is not None for route in self.by_role.values())

    def build(self, meter: UsageMeter | None = None) -> LLM:
        """A fresh port; its clients report to ``meter``. Close it with :func:`close_port`."""
        default = _port(self.default, meter)
        if not self.by_role:
            return default
        return RoutedLLM(default, {role: _port(route, meter) for role, route in sorted(self.by_role.items())})


def close_port(port: LLM) -> None:
    """Close the server clients of a port built by :meth:`PortRecipe.build` (the offline engine holds none)."""
    ports = [port.default, *port.by_role.values()] if isinstance(port, RoutedLLM) else [port]
    for each in ports:
        if isinstance(each, OpenAIChatLLM):
            each.close()


def _port(route: OpenAIChatSettings | None, meter: UsageMeter | None) -> LLM:
    return default_offline_llm() if route is None else OpenAIChatLLM(route, meter=meter)
