"""Compiled contract artifacts (contracts/artifacts/<Name>.json, produced by contracts/build.mjs).

Plain Python, no Django: usable from scripts, the portal and tests alike.
Each artifact is a dict with keys abi, bytecode, compiler, contractName, deployedBytecode, sourceName.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

#: Repository root (this file is <root>/chain/artifacts.py).
REPO_ROOT = Path(__file__).resolve().parent.parent
#: Directory holding the committed artifacts.
ARTIFACTS_DIR = REPO_ROOT / "contracts" / "artifacts"


class ArtifactNotFound(FileNotFoundError):
    """No artifact file for the requested contract name."""


def artifact_path(name: str) -> Path:
    """Path of the artifact of contract `name` (which need not exist)."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"invalid contract name {name!r}")
    return ARTIFACTS_DIR / f"{name}.json"


@cache
def load_artifact(name: str) -> dict[str, Any]:
    """The artifact of contract `name`, e.g. load_artifact("GovernanceToken")["abi"] (cached).

    The returned dict is shared between callers: do not mutate it.
    """
    path = artifact_path(name)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        known = ", ".join(contract_names()) or "none"
        raise ArtifactNotFound(
            f"No artifact for contract {name!r} at {path} (known: {known}); run `node contracts/build.mjs`."
        ) from exc
    return json.loads(text)


def contract_names() -> list[str]:
    """Names of all contracts that have an artifact, sorted."""
    if not ARTIFACTS_DIR.is_dir():
        return []
    return sorted(p.stem for p in ARTIFACTS_DIR.glob("*.json"))


def load_abi(name: str) -> list[dict[str, Any]]:
    """Shortcut for load_artifact(name)["abi"]."""
    return load_artifact(name)["abi"]
