"""Dagster config taken from the engine's settings dataclasses: the engine declares each knob once
(name, type, default) and the run config offers it, so a knob added to the engine is configurable
from the launchpad without a second declaration."""

import dataclasses
import typing
from collections.abc import Collection

import dagster as dg
import pydantic


def settings_fields(settings: type) -> dict[str, tuple[object, object]]:
    """Each field of the ``settings`` dataclass as a pydantic field definition (type, default)."""
    hints = typing.get_type_hints(settings)
    found = {}
    for field in dataclasses.fields(settings):
        if field.default is dataclasses.MISSING:
            raise TypeError(f"{settings.__name__}.{field.name} has no default: a run config needs one")
        found[field.name] = (hints[field.name], field.default)
    return found


def config_from(settings: type, base: type = dg.Config) -> type:
    """A subclass of ``base`` (``dg.Config`` or ``dg.ConfigurableResource``) with the fields of ``settings``;
    subclass it to add the knobs of the run itself (seed, sizes)."""
    return pydantic.create_model(
        f"{settings.__name__}Fields", __base__=base, __module__=__name__, **settings_fields(settings)
    )


def settings_of(config: object, settings: type, **overrides: object):
    """The engine settings that ``config`` (a class made by :func:`config_from`) holds."""
    values = {field.name: getattr(config, field.name) for field in dataclasses.fields(settings)}
    return settings(**{**values, **overrides})


def hashed(config: dg.Config, settings: type, added_later: Collection[str]) -> dict[str, object]:
    """The config as it goes into the config hash: ``added_later`` names knobs that became configurable
    after rows were stamped; at their default they behave as before and are left out, so those rows
    keep their hash, while a changed value changes it."""
    defaults = {field.name: field.default for field in dataclasses.fields(settings)}
    return {
        name: value
        for name, value in config.model_dump().items()
        if not (name in added_later and value == defaults[name])
    }
