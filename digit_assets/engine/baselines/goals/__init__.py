"""Goal samplers per bundled domain; the shared vocabulary (Task, Literal, Expectation, ...) is in ``core``."""

from __future__ import annotations

from types import ModuleType

from digit_assets.engine.baselines.goals import files, retail, travel
from digit_assets.engine.baselines.goals.core import Expectation, Goal, GoalSampler, Literal, Persona, Task, Verdict

GOALS: dict[str, ModuleType] = {"files": files, "retail": retail, "travel": travel}

__all__ = ["GOALS", "Expectation", "Goal", "GoalSampler", "Literal", "Persona", "Task", "Verdict"]
