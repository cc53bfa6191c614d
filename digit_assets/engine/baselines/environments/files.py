"""Files: a shared file system with directories, files (sizes, owners, tags), sharing, permissions and a trash.

The session user (``context['user']``) acts; a file can be changed by its owner or by a user it is
shared with for writing, a directory written by its owner or its listed writers.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from faker import Faker

from digit_assets.engine.baselines.environments.base import (
    State,
    ToolBox,
    ToolError,
    array,
    choice,
    day,
    integer,
    obj,
    text,
)

ACCESS = ["read", "write"]
TAGS = ["draft", "final", "review", "archive", "confidential", "invoice", "design", "legal", "q1", "q2"]

FILE_ID = text("File id, as returned by search_files or list_directory", pattern="^f_[0-9]{4}$")
DIRECTORY = text("Absolute directory path", pattern="^/([a-z0-9_.-]+(/[a-z0-9_.-]+)*)?$")
FILE_NAME = text("File name with extension", pattern="^[A-Za-z0-9_.-]+$")
USER = text("User name", pattern="^[a-z]+$")
TAG = text("Tag", pattern="^[a-z0-9-]+$")
SHARE = obj({"user": USER, "access": choice(ACCESS, "Access granted")})
FILE_SUMMARY = obj(
    {
        "file_id": FILE_ID,
        "name": FILE_NAME,
        "directory": DIRECTORY,
        "size_bytes": integer("Size in bytes", minimum=0),
        "owner": USER,
        "tags": array(TAG, "Tags"),
    }
)
FILE_INFO = obj(
    {
        "file_id": FILE_ID,
        "name": FILE_NAME,
        "directory": DIRECTORY,
        "size_bytes": integer("Size in bytes", minimum=0),
        "owner": USER,
        "tags": array(TAG, "Tags"),
        "modified_on": day("Last modification"),
        "shared_with": array(SHARE, "Users the file is shared with"),
        "in_trash": {"type": "boolean", "description": "Whether the file is in the trash"},
    }
)
FILE_LOCATION = obj({"file_id": FILE_ID, "name": FILE_NAME, "directory": DIRECTORY, "in_trash": {"type": "boolean", "description": "Whether the file is in the trash"}})

toolbox = ToolBox()


def _path(entity: dict[str, Any]) -> str:
    return f"{entity['directory'].rstrip('/')}/{entity['name']}"


def _under(directory: str, root: str) -> bool:
    return root == "/" or directory == root or directory.startswith(root.rstrip("/") + "/")


def _summary(entity: dict[str, Any]) -> dict[str, Any]:
    return {key: entity[key] for key in ("file_id", "name", "directory", "size_bytes", "owner", "tags")}


def _location(entity: dict[str, Any]) -> dict[str, Any]:
    return {key: entity[key] for key in ("file_id", "name", "directory", "in_trash")}


def _live_file(state: State, file_id: str) -> dict[str, Any]:
    entity = state.require("files", file_id, "file")
    if entity["in_trash"]:
        raise ToolError(f"{_path(entity)} is in the trash; restore it first")
    return entity


def can_write_file(user: str, entity: dict[str, Any]) -> bool:
    return entity["owner"] == user or entity["shared_with"].get(user) == "write"


def can_write_directory(user: str, directory: dict[str, Any]) -> bool:
    return directory["owner"] == user or user in directory["writers"]


def _writable_file(state: State, file_id: str) -> dict[str, Any]:
    entity = _live_file(state, file_id)
    user = state.context["user"]
    if not can_write_file(user, entity):
        raise ToolError(f"permission denied: {_path(entity)} belongs to {entity['owner']} and is not shared with {user} for writing")
    return entity


def _writable_directory(state: State, path: str) -> dict[str, Any]:
    directory = state.require("directories", path, "directory")
    user = state.context["user"]
    if not can_write_directory(user, directory):
        raise ToolError(f"permission denied: {user} cannot write to {path}")
    return directory


def _name_taken(state: State, directory: str, name: str) -> bool:
    return any(f["directory"] == directory and f["name"] == name and not f["in_trash"] for f in state.rows("files"))


@toolbox.tool(
    "Subdirectories and files (not in the trash) directly inside a directory.",
    obj({"directory": DIRECTORY}),
    obj(
        {
            "directory": DIRECTORY,
            "subdirectories": array(obj({"directory": DIRECTORY, "owner": USER}), "Child directories"),
            "files": array(FILE_SUMMARY, "Files in the directory, by name"),
        }
    ),
)
def list_directory(state: State, args: dict[str, Any]) -> dict[str, Any]:
    path = state.require("directories", args["directory"], "directory")["path"]
    children = [{"directory": d["path"], "owner": d["owner"]} for d in state.rows("directories") if d["parent"] == path]
    files = [_summary(f) for f in state.rows("files") if f["directory"] == path and not f["in_trash"]]
    return {"directory": path, "subdirectories": sorted(children, key=lambda d: d["directory"]), "files": sorted(files, key=lambda f: f["name"])}


@toolbox.tool(
    "Search files (not in the trash) anywhere below a directory by name, tag, owner and minimum size.",
    obj(
        {"directory": DIRECTORY},
        {
            "name_contains": text("Part of the file name"),
            "tag": TAG,
            "owner": USER,
            "min_size_bytes": integer("Only files at least this large", minimum=0),
        },
    ),
    obj({"files": array(FILE_SUMMARY, "Matching files, by path (at most 50)")}),
)
def search_files(state: State, args: dict[str, Any]) -> dict[str, Any]:
    root = state.require("directories", args["directory"], "directory")["path"]
    needle = args.get("name_contains", "").lower()
    found = [
        f
        for f in state.rows("files")
        if not f["in_trash"]
        and _under(f["directory"], root)
        and needle in f["name"].lower()
        and args.get("tag") in (None, *f["tags"])
        and args.get("owner") in (None, f["owner"])
        and f["size_bytes"] >= args.get("min_size_bytes", 0)
    ]
    return {"files": [_summary(f) for f in sorted(found, key=_path)[:50]]}


@toolbox.tool("Everything about one file, including who it is shared with.", obj({"file_id": FILE_ID}), FILE_INFO)
def get_file_info(state: State, args: dict[str, Any]) -> dict[str, Any]:
    entity = state.require("files", args["file_id"], "file")
    shares = [{"user": user, "access": access} for user, access in sorted(entity["shared_with"].items())]
    return {**_summary(entity), "modified_on": entity["modified_on"], "shared_with": shares, "in_trash": entity["in_trash"]}


@toolbox.tool(
    "Create a directory inside a directory you can write to.",
    obj({"parent_directory": DIRECTORY, "name": text("Name of the new directory", pattern="^[a-z0-9_.-]+$")}),
    obj({"directory": DIRECTORY, "owner": USER}),
    writes=True,
    report="created the folder {directory}",
)
def create_directory(state: State, args: dict[str, Any]) -> dict[str, Any]:
    parent = _writable_directory(state, args["parent_directory"])
    path = f"{parent['path'].rstrip('/')}/{args['name']}"
    if state.get("directories", path) is not None:
        raise ToolError(f"{path} already exists")
    user = state.context["user"]
    state.put("directories", path, {"path": path, "parent": parent["path"], "owner": user, "writers": []})
    return {"directory": path, "owner": user}


@toolbox.tool(
    "Move a file into another directory; you need write access to the file and to the destination.",
    obj({"file_id": FILE_ID, "destination": DIRECTORY}),
    FILE_LOCATION,
    writes=True,
    report="moved {name} to {directory}",
)
def move_file(state: State, args: dict[str, Any]) -> dict[str, Any]:
    entity = _writable_file(state, args["file_id"])
    destination = _writable_directory(state, args["destination"])["path"]
    if entity["directory"] == destination:
        raise ToolError(f"{_path(entity)} is already in {destination}")
    if _name_taken(state, destination, entity["name"]):
        raise ToolError(f"a file named {entity['name']} already exists in {destination}")
    return _location(state.update("files", entity["file_id"], directory=destination))


@toolbox.tool(
    "Rename a file in place; the new name must be free in its directory.",
    obj({"file_id": FILE_ID, "new_name": FILE_NAME}),
    FILE_LOCATION,
    writes=True,
    report="renamed the file to {name}",
)
def rename_file(state: State, args: dict[str, Any]) -> dict[str, Any]:
    entity = _writable_file(state, args["file_id"])
    if entity["name"] == args["new_name"]:
        raise ToolError(f"{_path(entity)} already has that name")
    if _name_taken(state, entity["directory"], args["new_name"]):
        raise ToolError(f"a file named {args['new_name']} already exists in {entity['directory']}")
    return _location(state.update("files", entity["file_id"], name=args["new_name"]))


@toolbox.tool(
    "Add a tag to a file you can write.",
    obj({"file_id": FILE_ID, "tag": TAG}),
    obj({"file_id": FILE_ID, "name": FILE_NAME, "tags": array(TAG, "Tags after the change")}),
    writes=True,
    report="tagged {name} '{tag}'",
)
def add_tag(state: State, args: dict[str, Any]) -> dict[str, Any]:
    entity = _writable_file(state, args["file_id"])
    if args["tag"] in entity["tags"]:
        raise ToolError(f"{_path(entity)} is already tagged {args['tag']}")
    tags = sorted([*entity["tags"], args["tag"]])
    state.update("files", entity["file_id"], tags=tags)
    return {"file_id": entity["file_id"], "name": entity["name"], "tags": tags}


@toolbox.tool(
    "Remove a tag from a file you can write.",
    obj({"file_id": FILE_ID, "tag": TAG}),
    obj({"file_id": FILE_ID, "name": FILE_NAME, "tags": array(TAG, "Tags after the change")}),
    writes=True,
    report="removed the tag '{tag}' from {name}",
)
def remove_tag(state: State, args: dict[str, Any]) -> dict[str, Any]:
    entity = _writable_file(state, args["file_id"])
    if args["tag"] not in entity["tags"]:
        raise ToolError(f"{_path(entity)} is not tagged {args['tag']}")
    tags = [tag for tag in entity["tags"] if tag != args["tag"]]
    state.update("files", entity["file_id"], tags=tags)
    return {"file_id": entity["file_id"], "name": entity["name"], "tags": tags}


@toolbox.tool(
    "Move a file you can write to your trash; it can be restored later.",
    obj({"file_id": FILE_ID}),
    FILE_LOCATION,
    writes=True,
    report="moved {name} from {directory} to the trash",
)
def trash_file(state: State, args: dict[str, Any]) -> dict[str, Any]:
    entity = _writable_file(state, args["file_id"])
    updated = state.update("files", entity["file_id"], in_trash=True, trashed_by=state.context["user"], trashed_on=state.context["today"])
    return _location(updated)


@toolbox.tool(
    "Files in your trash with the directory each came from.",
    obj({}),
    obj(
        {
            "files": array(
                obj({**FILE_SUMMARY["properties"], "trashed_on": day("When it was trashed")}),
                "Trashed files, newest first",
            )
        }
    ),
)
def list_trash(state: State, args: dict[str, Any]) -> dict[str, Any]:
    user = state.context["user"]
    found = [f for f in state.rows("files") if f["in_trash"] and f.get("trashed_by") == user]
    found.sort(key=lambda f: (f["trashed_on"], f["file_id"]), reverse=True)
    return {"files": [{**_summary(f), "trashed_on": f["trashed_on"]} for f in found]}


@toolbox.tool(
    "Restore a file from your trash to the directory it came from.",
    obj({"file_id": FILE_ID}),
    FILE_LOCATION,
    writes=True,
    report="restored {name} to {directory}",
)
def restore_file(state: State, args: dict[str, Any]) -> dict[str, Any]:
    entity = state.require("files", args["file_id"], "file")
    if not entity["in_trash"]:
        raise ToolError(f"{_path(entity)} is not in the trash")
    if entity.get("trashed_by") != state.context["user"]:
        raise ToolError(f"{entity['name']} is in {entity.get('trashed_by')}'s trash, not yours")
    if state.get("directories", entity["directory"]) is None:
        raise ToolError(f"{entity['directory']} no longer exists; recreate it first")
    if _name_taken(state, entity["directory"], entity["name"]):
        raise ToolError(f"a file named {entity['name']} already exists in {entity['directory']}")
    restored = {key: value for key, value in entity.items() if key not in ("trashed_by", "trashed_on")}
    state.put("files", entity["file_id"], {**restored, "in_trash": False})
    return _location(restored | {"in_trash": False})


@toolbox.tool(
    "Share a file you own with another user, for reading or for writing.",
    obj({"file_id": FILE_ID, "user": USER, "access": choice(ACCESS, "Access to grant")}),
    obj({"file_id": FILE_ID, "name": FILE_NAME, "shared_with": array(SHARE, "Users the file is shared with")}),
    writes=True,
    report="gave {user} {access} access to {name}",
)
def share_file(state: State, args: dict[str, Any]) -> dict[str, Any]:
    entity = _live_file(state, args["file_id"])
    user = state.context["user"]
    if entity["owner"] != user:
        raise ToolError(f"only the owner ({entity['owner']}) can share {_path(entity)}")
    if state.get("users", args["user"]) is None:
        raise ToolError(f"user {args['user']} not found")
    if args["user"] == user:
        raise ToolError("you already own this file")
    if entity["shared_with"].get(args["user"]) == args["access"]:
        raise ToolError(f"{_path(entity)} is already shared with {args['user']} for {args['access']}")
    shares = {**entity["shared_with"], args["user"]: args["access"]}
    state.update("files", entity["file_id"], shared_with=shares)
    listed = [{"user": name, "access": access} for name, access in sorted(shares.items())]
    return {"file_id": entity["file_id"], "name": entity["name"], "shared_with": listed}


TOOLS = toolbox.tools

# Seed generation: run once by ``environments.build``; the JSON it writes is what ships.

_PROJECTS = ["apollo", "borealis", "cascade", "delta", "ember", "falcon"]
_PROJECT_FOLDERS = ["docs", "specs", "data", "reports", "archive"]
_HOME_FOLDERS = ["documents", "downloads", "photos"]
_STEMS = ["budget", "roadmap", "minutes", "invoice", "design", "spec", "report", "notes", "summary", "plan", "contract", "survey", "slides", "results", "checklist"]
_QUALIFIERS = ["q1", "q2", "q3", "v2", "v3", "final", "draft", "2025", "2026", "review", "old"]
_EXTENSIONS = {"docs": ["docx", "pdf", "md"], "specs": ["md", "pdf", "yaml"], "data": ["csv", "parquet", "json"], "reports": ["pdf", "xlsx"], "archive": ["zip", "pdf"], "documents": ["docx", "pdf", "txt"], "downloads": ["pdf", "zip", "dmg"], "photos": ["jpg", "png"], "templates": ["docx", "pptx"], "media": ["mp4", "png"]}


def generate_seed(seed: int, today: str = "2026-03-16", users: int = 9) -> dict[str, Any]:
    """A deterministic tree: home folders, six team projects, shared folders, ~400 files, some trashed."""
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    current = date.fromisoformat(today)
    people: dict[str, dict[str, Any]] = {}
    while len(people) < users:
        first, last = fake.first_name(), fake.last_name()
        handle = first.lower()
        if handle.isalpha() and handle not in people:
            people[handle] = {"user": handle, "full_name": f"{first} {last}", "email": f"{handle}@example.com"}
    handles = list(people)
    directories = [{"path": "/", "parent": None, "owner": "root", "writers": []}]

    def add_directory(path: str, owner: str, writers: list[str]) -> None:
        parent = path.rsplit("/", 1)[0] or "/"
        directories.append({"path": path, "parent": parent, "owner": owner, "writers": writers})

    for top in ("/home", "/projects", "/shared"):
        add_directory(top, "root", [])
    folders: list[tuple[str, str, list[str]]] = []  # (path, kind, people who put files there)
    for handle in handles:
        add_directory(f"/home/{handle}", handle, [])
        for folder in _HOME_FOLDERS:
            add_directory(f"/home/{handle}/{folder}", handle, [])
            folders.append((f"/home/{handle}/{folder}", folder, [handle]))
    for project in _PROJECTS:
        team = rng.sample(handles, rng.randint(3, 5))
        add_directory(f"/projects/{project}", team[0], team[1:])
        for folder in _PROJECT_FOLDERS:
            add_directory(f"/projects/{project}/{folder}", team[0], team[1:])
            folders.append((f"/projects/{project}/{folder}", folder, team))
    for folder in ("templates", "media"):
        add_directory(f"/shared/{folder}", "root", handles)
        folders.append((f"/shared/{folder}", folder, handles))
    files = []
    for path, kind, contributors in folders:
        names: set[str] = set()
        count = rng.randint(5, 11) if path.startswith("/projects") else rng.randint(2, 6)
        while len(names) < count:
            names.add(f"{rng.choice(_STEMS)}-{rng.choice(_QUALIFIERS)}.{rng.choice(_EXTENSIONS[kind])}")
        for name in sorted(names):
            owner = rng.choice(contributors)
            others = [h for h in handles if h != owner]
            shared = {h: rng.choice(ACCESS) for h in rng.sample(others, rng.choice([0, 0, 1, 2]))}
            trashed = rng.random() < 0.06
            entity = {
                "file_id": f"f_{len(files) + 1:04d}",
                "name": name,
                "directory": path,
                "size_bytes": int(rng.lognormvariate(13, 1.6)),
                "owner": owner,
                "tags": sorted(rng.sample(TAGS, rng.choice([0, 1, 1, 2, 2, 3]))),
                "modified_on": (current - timedelta(days=rng.randint(1, 400))).isoformat(),
                "shared_with": shared,
                "in_trash": trashed,
            }
            if trashed:
                entity |= {"trashed_by": owner, "trashed_on": (current - timedelta(days=rng.randint(0, 20))).isoformat()}
            files.append(entity)
    return {
        "domain": "files",
        "context": {"today": today, "user": handles[0]},
        "keys": {"users": "user", "directories": "path", "files": "file_id"},
        "tables": {"users": list(people.values()), "directories": directories, "files": files},
    }
