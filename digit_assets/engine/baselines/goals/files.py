"""File-system goals: a user cleans up, moves, restores, shares and tags files they describe by name, tag and place."""

from __future__ import annotations

import random

from digit_assets.engine.baselines.environments.base import Entity, State
from digit_assets.engine.baselines.environments.files import can_write_directory, can_write_file
from digit_assets.engine.baselines.goals.core import Expectation, Goal, Literal, Persona, Task, unique_by


def persona(state: State, rng: random.Random) -> Persona:
    user = rng.choice(list(state.rows("users")))
    return Persona(intro=f"Hi, this is {user['user']}.", literals=(), entity_id=user["user"], context={"user": user["user"]})


def _live(state: State) -> list[Entity]:
    return [f for f in state.rows("files") if not f["in_trash"]]


def _below(entity: Entity, root: str) -> bool:
    return entity["directory"] == root or entity["directory"].startswith(root + "/")


def _roots(state: State) -> list[str]:
    """Directories people talk about: projects, their folders and home folders (not '/')."""
    return sorted(d["path"] for d in state.rows("directories") if d["path"].count("/") >= 2)


def _tag_sweep(state: State, who: Persona, rng: random.Random, *, remove: bool) -> Goal | None:
    """Every file tagged T under D, trashed or untagged; the files the user may not change stay as they are."""
    user = who.entity_id
    live = _live(state)
    for _ in range(8):
        root, tag = rng.choice(_roots(state)), rng.choice(sorted({t for f in live for t in f["tags"]}))
        tagged = [f for f in live if _below(f, root) and tag in f["tags"]]
        allowed = [f for f in tagged if can_write_file(user, f)]
        if allowed and len(tagged) <= 6:
            break
    else:
        return None
    if remove:
        request = rng.choice(
            [
                f"Please remove the tag '{tag}' from every file under {root}, skipping any file I'm not allowed to edit.",
                f"Remove the '{tag}' tag from all the files in {root} (leave the ones I can't edit).",
            ]
        )
        condition, kind = (lambda f: tag not in f["tags"]), "untag_files"
    else:
        request = rng.choice(
            [
                f"Please move every file tagged '{tag}' under {root} to the trash; skip anything I'm not allowed to delete.",
                f"Trash all the files tagged '{tag}' in {root} (leave the ones I don't have rights to).",
            ]
        )
        condition, kind = (lambda f: f["in_trash"]), "trash_tagged"
    oracle = Expectation(state, targets={("files", f["file_id"]): condition for f in allowed})
    return Goal(kind, Task(request, (Literal(root, ("directory",)), Literal(tag, ("tag",)))), oracle)


def trash_tagged(state: State, who: Persona, rng: random.Random) -> Goal | None:
    return _tag_sweep(state, who, rng, remove=False)


def untag_files(state: State, who: Persona, rng: random.Random) -> Goal | None:
    return _tag_sweep(state, who, rng, remove=True)


def move_file(state: State, who: Persona, rng: random.Random) -> Goal | None:
    """Move a file by name; a third of the time the name is taken at the destination and must change."""
    user = who.entity_id
    live = _live(state)
    mine = [f for f in unique_by(live, lambda f: (f["name"], f["directory"])) if can_write_file(user, f)]
    targets = [d["path"] for d in state.rows("directories") if can_write_directory(user, d) and d["path"].count("/") >= 2]
    if not mine or not targets:
        return None
    entity = rng.choice(mine)
    destinations = [d for d in targets if d != entity["directory"]]
    if not destinations:
        return None
    taken = [d for d in destinations if any(f["directory"] == d and f["name"] == entity["name"] for f in live)]
    collide = bool(taken) and rng.random() < 0.6
    free = [d for d in destinations if d not in taken]
    if not collide and not free:
        return None
    destination = rng.choice(taken if collide else free)
    name, source = entity["name"], entity["directory"]
    literals = [Literal(name, ("name", "name_contains")), Literal(source, ("directory",)), Literal(destination, ("destination",))]
    request = rng.choice([f"Please move {name} from {source} to {destination}.", f"Can you move {name} (currently in {source}) into {destination}?"])
    final_name = name
    if collide:
        stem, _, extension = name.rpartition(".")
        final_name = f"{stem}-{user}.{extension}"
        request += f" There's already a file with that name there, so rename mine to {final_name}."
        literals.append(Literal(final_name, ("new_name",)))
    oracle = Expectation(
        state,
        targets={("files", entity["file_id"]): lambda f: f["directory"] == destination and f["name"] == final_name},
        waypoints={("files", entity["file_id"]): lambda f: f["directory"] in (source, destination) and f["name"] in (name, final_name)},
    )
    return Goal("move_file", Task(request, tuple(literals)), oracle)


def restore_file(state: State, who: Persona, rng: random.Random) -> Goal | None:
    live = _live(state)
    trashed = [
        f
        for f in state.rows("files")
        if f["in_trash"]
        and f.get("trashed_by") == who.entity_id
        and state.get("directories", f["directory"]) is not None
        and not any(g["directory"] == f["directory"] and g["name"] == f["name"] for g in live)
    ]
    trashed = unique_by(trashed, lambda f: f["name"])
    if not trashed:
        return None
    entity = rng.choice(trashed)
    request = rng.choice(
        [f"I deleted {entity['name']} from {entity['directory']} by mistake; please restore it.", f"Please restore {entity['name']}; I deleted it from {entity['directory']} by accident."]
    )
    literals = (Literal(entity["name"], ("name", "name_contains")), Literal(entity["directory"], ("directory",)))
    oracle = Expectation(state, targets={("files", entity["file_id"]): lambda f: not f["in_trash"]})
    return Goal("restore_file", Task(request, literals), oracle)


def share_file(state: State, who: Persona, rng: random.Random) -> Goal | None:
    user = who.entity_id
    owned = [f for f in unique_by(_live(state), lambda f: (f["name"], f["directory"])) if f["owner"] == user]
    if not owned:
        return None
    entity = rng.choice(owned)
    access = rng.choice(["read", "write"])
    others = [u["user"] for u in state.rows("users") if u["user"] != user and entity["shared_with"].get(u["user"]) != access]
    other = rng.choice(others)
    request = rng.choice(
        [
            f"Please share {entity['name']} in {entity['directory']} with {other}, {access} access.",
            f"Share {entity['name']} from {entity['directory']} with {other} so they get {access} access.",
        ]
    )
    literals = (Literal(entity["name"], ("name", "name_contains")), Literal(entity["directory"], ("directory",)), Literal(other, ("user",)))
    oracle = Expectation(state, targets={("files", entity["file_id"]): lambda f: f["shared_with"].get(other) == access})
    return Goal("share_file", Task(request, literals), oracle)


def tag_large_files(state: State, who: Persona, rng: random.Random) -> Goal | None:
    user = who.entity_id
    live = _live(state)
    for _ in range(8):
        root, tag = rng.choice(_roots(state)), rng.choice(["review", "archive", "large", "cleanup"])
        megabytes = rng.choice([1, 2, 5, 10])
        mine = [f for f in live if _below(f, root) and f["owner"] == user and f["size_bytes"] >= megabytes * 1_000_000]
        untagged = [f for f in mine if tag not in f["tags"]]
        if untagged and len(mine) <= 6:
            break
    else:
        return None
    request = rng.choice(
        [f"Add the tag '{tag}' to every file of mine under {root} that is at least {megabytes} MB.", f"Please add '{tag}' as a tag on all my files in {root} of {megabytes} MB or more."]
    )
    literals = (
        Literal(user, ("owner",)),
        Literal(root, ("directory",)),
        Literal(tag, ("tag",)),
        Literal(megabytes * 1_000_000, ("min_size_bytes",)),
    )
    oracle = Expectation(state, targets={("files", f["file_id"]): lambda f: tag in f["tags"] for f in untagged})
    return Goal("tag_large_files", Task(request, literals), oracle)


SAMPLERS = {
    "trash_tagged": trash_tagged,
    "untag_files": untag_files,
    "move_file": move_file,
    "restore_file": restore_file,
    "share_file": share_file,
    "tag_large_files": tag_large_files,
}
