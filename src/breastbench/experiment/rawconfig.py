"""Reading the experiment file into a raw mapping, before the schema types it.

Strict YAML (a key given twice is refused; identifiers with leading zeros stay text), ``${VAR}``
/ ``${VAR:-default}`` expansion as the shell does it, paths resolved against a base folder, and
``sweep:`` on a model entry expanded into one labelled entry per combination.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import yaml

from breastbench.errors import UserError
from breastbench.experiment.sections import ModelConfig


def read_yaml(path: Path) -> dict:
    """The experiment file as a mapping: UTF-8, valid YAML, no repeated key (one-line errors)."""
    if not path.is_file():
        raise UserError(f"experiment file not found: {path}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise UserError(
            f"{path}: line {line} is not UTF-8 (byte 0x{err.object[err.start]:02x}); save the "
            "file as UTF-8"
        ) from None
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - safe subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise UserError(
            f"{path}:{where} is not valid YAML ({getattr(err, 'problem', err)})"
        ) from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping with keys datasets, models, ...")
    return raw


def _plain_scalar_resolvers() -> dict:
    """PyYAML's implicit resolvers, with integers that keep identifiers as written.

    YAML 1.1 reads ``0012`` as octal 10, ``1:30`` as 90 (base 60) and ``0b11`` as 3; an
    identifier typed with leading zeros (a dataset or patient id) must stay ``"0012"``. Only
    plain decimal integers without leading zeros (and ``0x`` hex) resolve to int here.
    """
    resolvers = {
        first: [(tag, rx) for tag, rx in entries if tag != "tag:yaml.org,2002:int"]
        for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    int_rx = re.compile(r"^(?:[-+]?(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+)$")
    for first in "-+0123456789":
        resolvers.setdefault(first, []).append(("tag:yaml.org,2002:int", int_rx))
    return resolvers


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key given twice in one mapping (YAML keeps the last).

    Integers with leading zeros stay strings (see :func:`_plain_scalar_resolvers`).
    """

    yaml_implicit_resolvers = _plain_scalar_resolvers()

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}; give each key once", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def expand_sweeps(models: list) -> list:
    """Expand ``sweep:`` on model entries into one labelled entry per combination.

    ``sweep: {lora_r: [4, 8, 16]}`` on the entry labelled ``SmolVLM`` gives ``SmolVLM[lora_r=4]``,
    ``SmolVLM[lora_r=8]`` and ``SmolVLM[lora_r=16]``: first-class configurations in every table,
    figure and comparison. A key that is a model-entry field (``lr``, ``input_size``,
    ``resize``, ...) sets that field; any other key goes to ``options`` (``lora_r``,
    ``lora_alpha``, ``lora_dropout``, ``lora_targets``, ``lora_scope``, ...).
    """
    import itertools

    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    out = []
    for i, entry in enumerate(models):
        if not isinstance(entry, dict) or "sweep" not in entry:
            out.append(entry)
            continue
        sweep = entry["sweep"]
        where = f"models[{i}].sweep"
        if not isinstance(sweep, dict) or not sweep:
            raise UserError(f"{where}: give a mapping of option -> list of values")
        for key, values in sweep.items():
            if not isinstance(values, list) or not values:
                raise UserError(f"{where}.{key}: give a non-empty list of values")
            if key in ("name", "modes", "label", "sweep", "options"):
                raise UserError(f"{where}.{key}: cannot be swept; sweep model options instead")
        base = {k: v for k, v in entry.items() if k != "sweep"}
        label = base.get("label") or base.get("name")
        keys = list(sweep)
        for combo in itertools.product(*(sweep[k] for k in keys)):
            item = dict(base, options=dict(base.get("options") or {}))
            for key, value in zip(keys, combo):
                if key in fields:
                    item[key] = value
                else:
                    item["options"][key] = value
            tag = ",".join(f"{k}={v}" for k, v in zip(keys, combo))
            item["label"] = f"{label}[{tag}]"
            out.append(item)
    return out


# resolved dataset root -> the unset environment variable whose default it is
UNSET_ROOT_VARS: dict[str, str] = {}

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}")


def _uses_default(m: re.Match) -> bool:
    """True when ``m``'s default stands in: VAR unset, or set but empty for ``:-`` (shell)."""
    value = os.environ.get(m.group(1))
    return value is None or (value == "" and m.group(2) == ":-")


def unset_vars(text: str) -> list[str]:
    """The variables of ``text`` whose default stands in (unset, or set but empty for ``:-``)."""
    return [m.group(1) for m in _VAR.finditer(text) if _uses_default(m)]


def expand_vars(text: str) -> str:
    """Expand ``${VAR}``, ``${VAR:-default}`` and ``${VAR-default}`` as the shell does.

    ``:-`` uses the default when VAR is unset or empty, ``-`` only when it is unset; an unset
    VAR without a default is an error.
    """

    def sub(m: re.Match) -> str:
        if not _uses_default(m):
            return os.environ[m.group(1)]
        if m.group(2) is None:
            if m.group(1) in os.environ:  # ${VAR} set to the empty string
                return ""
            raise UserError(
                f"environment variable {m.group(1)} is not set; set it or write "
                f"${{{m.group(1)}:-default}}"
            )
        return m.group(3)

    return _VAR.sub(sub, text)


def resolve_path(path: str, base: Path) -> str:
    """``path`` with ``${VAR}`` and ``~`` expanded, made absolute against ``base``."""
    p = Path(expand_vars(path)).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())
