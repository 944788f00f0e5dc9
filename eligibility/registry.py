"""Which policies exist, and loading them: one compiled `Policy` per id, built once.

Why a registry: a later year's arrangement must be added as a data file, without code
changes. Policy files are `<id>.toml` (id like `nmg-2020`, `nmg-2021`, `nmg-2021-draft`)
in config/policy/ and in any directory listed in the environment variable
ELIGIBILITY_POLICY_DIRS (os.pathsep-separated). An id that is not known yet triggers one
rescan, so a file dropped in while the service runs is found. Other .toml files there
(answers.toml) are not policies.

A policy file may say `extends = "<id>"` under [policy]: it is then read as that policy
with this file's tables merged over it (tables merge key by key; other values replace),
so a new year can restate only what changed. `answers = "answers.toml"` is looked up next
to the policy file, then in config/policy/.
"""

from __future__ import annotations

import os
import re
import threading
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import PolicyError, UnknownPolicyError
from .policy import Policy

DEFAULT_POLICY = "nmg-2020"
POLICY_DIRS_ENV = "ELIGIBILITY_POLICY_DIRS"
PACKAGE_POLICY_DIR = Path(__file__).resolve().parent.parent / "config" / "policy"
_POLICY_ID = re.compile(r"^[a-z][a-z0-9]*-\d{4}(?:-[a-z0-9]+)*$")


class PolicyRegistry:
    """Finds policy files in `dirs` (first wins for a duplicate id) and compiles on demand."""

    def __init__(self, dirs: Iterable[Path | str]):
        self.dirs = [Path(d) for d in dirs]
        self._files: dict[str, Path] = {}
        self._compiled: dict[str, Policy] = {}
        self._lock = threading.Lock()
        self.rescan()

    def rescan(self) -> None:
        """Look for policy files again and forget compiled ones (picks up edits too)."""
        files = self._scan()
        with self._lock:
            self._files = files
            self._compiled = {}

    def _discover(self) -> None:
        """Pick up added or removed files; keep what is compiled for unchanged ones."""
        files = self._scan()
        with self._lock:
            self._compiled = {k: v for k, v in self._compiled.items()
                              if files.get(k) == self._files.get(k)}
            self._files = files

    def _scan(self) -> dict[str, Path]:
        files: dict[str, Path] = {}
        for d in self.dirs:
            if not d.is_dir():
                continue
            for f in sorted(d.glob("*.toml")):
                if _POLICY_ID.match(f.stem) and f.stem not in files:
                    files[f.stem] = f
        return files

    def ids(self) -> list[str]:
        """The policy ids found now."""
        self._discover()
        return sorted(self._files)

    def get(self, policy_id: str) -> Policy:
        """The compiled policy; UnknownPolicyError if no file has this id."""
        policy = self._compiled.get(policy_id)
        if policy is not None:
            return policy
        if not isinstance(policy_id, str) or not _POLICY_ID.match(policy_id):
            raise UnknownPolicyError(str(policy_id), self.ids())
        if policy_id not in self._files:
            self._discover()
            if policy_id not in self._files:
                raise UnknownPolicyError(policy_id, sorted(self._files))
        with self._lock:
            policy = self._compiled.get(policy_id)
            if policy is None:
                policy = self._compile(policy_id)
                self._compiled[policy_id] = policy
        return policy

    def _compile(self, policy_id: str) -> Policy:
        raw, path = self._raw(policy_id, ())
        meta = raw.get("policy", {})
        if meta.get("id") != policy_id:
            raise PolicyError(f"{path}: [policy] id must be {policy_id!r} (the file name)")
        answers_name = meta.get("answers", "answers.toml")
        candidates = [path.parent / answers_name, PACKAGE_POLICY_DIR / answers_name]
        answers_file = next((c for c in candidates if c.is_file()), None)
        if answers_file is None:
            raise PolicyError(f"{path}: answers file {answers_name!r} not found")
        return Policy(raw, _read(answers_file), str(path))

    def _raw(self, policy_id: str, seen: tuple[str, ...]) -> tuple[dict[str, Any], Path]:
        if policy_id in seen:
            raise PolicyError(f"policy {policy_id!r} extends itself ({' -> '.join(seen)})")
        path = self._files.get(policy_id)
        if path is None:
            raise PolicyError(f"{' -> '.join(seen)}: extends unknown policy {policy_id!r}")
        raw = _read(path)
        base_id = raw.get("policy", {}).get("extends")
        if base_id:
            base, _ = self._raw(base_id, (*seen, policy_id))
            raw = _merge(base, raw)
            raw["policy"].pop("extends", None)
        return raw, path


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"{path}: {exc}") from None


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _default_dirs() -> list[Path]:
    extra = os.environ.get(POLICY_DIRS_ENV, "")
    return [PACKAGE_POLICY_DIR, *(Path(p) for p in extra.split(os.pathsep) if p)]


_default: PolicyRegistry | None = None


def default_registry() -> PolicyRegistry:
    """The process-wide registry over config/policy/ and $ELIGIBILITY_POLICY_DIRS."""
    global _default
    if _default is None:
        _default = PolicyRegistry(_default_dirs())
    return _default


def refresh_policies() -> None:
    """Re-read the policy directories (and the environment variable naming extra ones)."""
    global _default
    _default = PolicyRegistry(_default_dirs())
