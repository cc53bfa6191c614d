"""A small catalog in the shape users bring: BFCL-style function docs, one JSON object per line, with
``response`` schemas that list no ``required`` fields and data flow that equal names do not find.

Written for the tests (a file system, a messaging API, a calculator); not a copy of any public data.
"""

from __future__ import annotations

import json
from pathlib import Path

S = {"type": "string"}


def _doc(name: str, description: str, properties: dict, required: list[str], response: dict) -> dict:
    return {
        "name": name,
        "description": description,
        "parameters": {"type": "dict", "properties": properties, "required": required},
        "response": {"type": "dict", "properties": response},
    }


FILE_SYSTEM = [
    _doc(
        "ls",
        "List the contents of the current directory.",
        {"show_hidden": {"type": "boolean", "description": "Include hidden entries.", "default": False}},
        [],
        {"current_directory_content": {"type": "array", "items": S, "description": "Names of files and folders."}},
    ),
    _doc(
        "cd",
        "Change the current working directory to a folder inside it.",
        {"folder": {"type": "string", "description": "Folder to move into."}},
        ["folder"],
        {"current_working_directory": {"type": "string", "description": "The new working directory."}},
    ),
    _doc(
        "cat",
        "Show the content of a file in the current directory.",
        {"file_name": {"type": "string", "description": "File to display."}},
        ["file_name"],
        {"file_content": {"type": "string", "description": "The file's text."}},
    ),
    _doc(
        "wc",
        "Count lines, words or characters of a file.",
        {"file_name": S, "mode": {"type": "string", "enum": ["l", "w", "c"]}},
        ["file_name", "mode"],
        {"count": {"type": "integer"}, "type": {"type": "string"}},
    ),
]

MESSAGING = [
    _doc(
        "get_user_id",
        "Look up the id of a user by their user name.",
        {"user": {"type": "string", "description": "User name."}},
        ["user"],
        {"user_id": {"type": "string", "description": "The user's id."}},
    ),
    _doc(
        "send_message",
        "Send a message to another user.",
        {"receiver_id": {"type": "string", "description": "Id of the receiver."}, "message": S},
        ["receiver_id", "message"],
        {"sent_status": {"type": "boolean"}, "message_id": {"type": "integer"}},
    ),
    _doc(
        "delete_message",
        "Delete a message sent earlier.",
        {"receiver_id": S, "message_id": {"type": "integer"}},
        ["receiver_id", "message_id"],
        {"deleted_status": {"type": "boolean"}},
    ),
]

CALCULATOR = [
    _doc(
        "add",
        "Add two numbers.",
        {"a": {"type": "float"}, "b": {"type": "float"}},
        ["a", "b"],
        {"result": {"type": "float", "description": "The sum."}},
    ),
    _doc(
        "multiply",
        "Multiply two numbers.",
        {"a": {"type": "float"}, "b": {"type": "float"}},
        ["a", "b"],
        {"result": {"type": "float"}},
    ),
    _doc(
        "square_root",
        "Square root of a number.",
        {"number": {"type": "float"}, "precision": {"type": "integer"}},
        ["number", "precision"],
        {"result": {"type": "float"}},
    ),
]

CATALOG = {"filesystem": FILE_SYSTEM, "messaging": MESSAGING, "calculator": CALCULATOR}


def write_catalog(directory: Path, suffix: str = ".jsonl") -> Path:
    """One file per API, one function doc per line; returns ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, docs in CATALOG.items():
        (directory / f"{name}{suffix}").write_text("".join(json.dumps(doc) + "\n" for doc in docs))
    return directory
