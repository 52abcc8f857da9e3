"""Prompt sets for zero-shot CLIP heads, loaded from YAML files shipped in ``breastbench/prompts``.

A prompt set maps each class to several descriptions and holds sentence templates; the prompts
of a class are every template filled with every description (a prompt ensemble). Templates with
``{magnification}`` form the optional magnification-aware variant. Class descriptions live in
data files, not code, so a study's exact prompts can be published and reused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from breastbench.errors import UserError


@dataclass(frozen=True)
class PromptSet:
    """Validated content of one prompt YAML file."""

    name: str
    source: str  # file the set was read from, named in errors
    classes: dict[str, tuple[str, ...]]
    templates: tuple[str, ...]
    magnification_templates: tuple[str, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)

    def resolve(self, cls: str) -> str:
        """The class key for ``cls``: exact, case-insensitive, or via ``aliases``."""
        return resolve_class(cls, self.classes, self.aliases, self.source, "classes")

    def prompts(self, cls: str, magnification: int | None = None) -> list[str]:
        """All prompts of one class: templates x descriptions, in file order."""
        descriptions = self.classes[self.resolve(cls)]
        if magnification is None:
            return [t.format(description=d) for t in self.templates for d in descriptions]
        if not self.magnification_templates:
            raise UserError(
                f"prompt file {self.source} has no `magnification_templates`; "
                f"drop the magnification or add templates containing {{magnification}}"
            )
        return [
            t.format(description=d, magnification=int(magnification))
            for t in self.magnification_templates
            for d in descriptions
        ]


def prompt_dir() -> Path:
    """Folder of the shipped prompt files."""
    return Path(str(resources.files("breastbench") / "prompts"))


def list_prompt_sets() -> list[str]:
    """Names of the shipped prompt sets (file stems)."""
    return sorted(p.stem for p in prompt_dir().glob("*.yaml"))


def resolve_class(cls: str, keys, aliases: dict[str, str], source: str, section: str) -> str:
    """The key among ``keys`` for a dataset class: exact, case-insensitive, or an alias.

    ``section`` is the file's mapping of classes (``classes`` or ``answers``), named in the error.
    """
    if cls in keys:
        return cls
    folded = {k.lower(): k for k in keys} | {k.lower(): v for k, v in aliases.items()}
    key = folded.get(str(cls).lower())
    if key is None:
        raise UserError(
            f"class '{cls}' has no {'descriptions' if section == 'classes' else section} in "
            f"prompt file {source}; "
            f"known classes: {', '.join(keys)} (add it under `{section}:`)"
        )
    return key


def read_prompt_file(name_or_path, folder: Path, kind: str):
    """(path, parsed YAML) of a shipped file by name (a stem in ``folder``) or any path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = folder / f"{name_or_path}.yaml"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))
        raise UserError(
            f"{kind} '{name_or_path}' not found; use one of {shipped} or a path to a YAML file"
        )
    try:
        return path, yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise UserError(f"prompt file {path} is not valid YAML ({err})".splitlines()[0]) from None


def load_prompts(name_or_path: str | os.PathLike | PromptSet) -> PromptSet:
    """Load a shipped set by name (``density``) or any YAML file by path, and validate it."""
    if isinstance(name_or_path, PromptSet):
        return name_or_path
    path, raw = read_prompt_file(name_or_path, prompt_dir(), "prompt set")
    return _validate(raw, str(path))


def _validate(raw, source: str) -> PromptSet:
    def bad(msg: str) -> UserError:
        return UserError(f"prompt file {source}: {msg}")

    if not isinstance(raw, dict):
        raise bad("expected a mapping with `classes` and `templates`")
    classes = raw.get("classes")
    if not isinstance(classes, dict) or not classes:
        raise bad("`classes` must map each class name to a list of descriptions")
    for key, descs in classes.items():
        if not isinstance(descs, list) or not descs or not all(isinstance(d, str) for d in descs):
            raise bad(f"class '{key}' needs a non-empty list of description strings")
    templates = raw.get("templates")
    if not isinstance(templates, list) or not templates:
        raise bad("`templates` must be a non-empty list of strings containing {description}")
    mag = raw.get("magnification_templates") or []
    for t in templates:
        if not isinstance(t, str) or "{description}" not in t or "{magnification}" in t:
            raise bad(f"template {t!r} must contain {{description}} and no {{magnification}}")
    for t in mag:
        if not isinstance(t, str) or "{description}" not in t or "{magnification}" not in t:
            raise bad(f"magnification template {t!r} needs {{description}} and {{magnification}}")
    aliases = {str(k): str(v) for k, v in (raw.get("aliases") or {}).items()}
    for alias, target in aliases.items():
        if target not in classes:
            raise bad(f"alias '{alias}' points to unknown class '{target}'")
    return PromptSet(
        name=str(raw.get("name", Path(source).stem)),
        source=source,
        classes={str(k): tuple(v) for k, v in classes.items()},
        templates=tuple(templates),
        magnification_templates=tuple(mag),
        aliases=aliases,
    )
