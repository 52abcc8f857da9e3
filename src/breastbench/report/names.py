"""Human names for configurations, subsets and runs: labels and templates as the user wrote them.

Run ids percent-encode free text (``cnn%2Fresnet34``) and replace a text-context template by a
short hash (``txt-b86e62de``) so they can be folder names. Nothing a person reads should show
either: every table, figure title, sentence and warning of the report names a configuration by
its model label, learning mode, text template (quoted in full), shot count and post-hoc
calibration (``temperature-scaled``), and a run by its configuration plus fold or seed.
Encoded ids stay in folder names only.
"""

from __future__ import annotations

import re

from breastbench.results import RunIdError, RunKey, text_tag
from breastbench.results.key import decode


def templates_of(runs) -> dict[str, str]:
    """Text tag -> the template it hashes, from every run's ``run.json`` (``text_context``)."""
    out: dict[str, str] = {}
    for run in runs:
        template = (run.info or {}).get("text_context")
        if isinstance(template, str):
            out[text_tag(template)] = template
    return out


def text_name(tag: str | None, templates: dict[str, str] | None = None) -> str:
    """``text "Patient age {age}"``: the template as written (or ``text context`` if unknown)."""
    if tag is None:
        return ""
    template = (templates or {}).get(tag)
    return f'text "{template}"' if template is not None else "text context"


def mode_name(mode: str, shots: str | None = None) -> str:
    """Human name of a learning mode (a generative zero-shot with examples: in-context)."""
    if mode == "zero_shot" and shots is not None:
        return "in-context"
    from breastbench.modes import get_mode, is_known

    return get_mode(mode).label if is_known(mode) else mode.replace("_", " ")


def config_name(key: RunKey, templates: dict[str, str] | None = None) -> str:
    """``TinyResNet fine-tune``, plus the text template and shots when the key has them."""
    name = f"{key.model} {mode_name(key.mode, key.shots)}"
    extras = []
    if key.text:
        extras.append(text_name(key.text, templates))
    if key.shots is not None:
        extras.append("all labelled patients" if key.shots == "all" else f"{key.shots}-shot")
    if key.calibration is not None:
        extras.append(f"{key.calibration}-scaled")
    return name + (f" ({', '.join(extras)})" if extras else "")


def subset_name(key: RunKey) -> str:
    """``breakhis 40×, augmentation off`` (plus ``→ bach`` for an external test set)."""
    where = key.dataset + (f" {key.magnification}×" if key.magnification else "")
    if key.external:
        where += f" → {key.external}"
    return f"{where}, augmentation {key.augmentation}"


def run_name(key: RunKey, templates: dict[str, str] | None = None) -> str:
    """A run in words: subset, configuration and replicate."""
    text = f"{subset_name(key)}: {config_name(key, templates)}"
    return text + (f", {key.replicate_label}" if key.replicate else "")


def problem_name(problem, templates: dict[str, str] | None = None) -> str:
    """A missing or broken run in words (a folder that is no run id: its decoded name)."""
    key = problem.key
    if key is None:
        try:
            key = RunKey.parse(problem.name)
        except RunIdError:
            return decode(problem.name)
    return run_name(key, templates)


def id_name(config_id: str, templates: dict[str, str] | None = None) -> str:
    """A configuration id from ``summary/`` in words (decoded as a fallback)."""
    try:
        return config_name(RunKey.parse(str(config_id)), templates)
    except RunIdError:
        return decode(str(config_id))


_RUN_ID = re.compile(r"[^\s'\"(),]+__aug-[^\s'\"(),:]+")


def humanize(text: str, templates: dict[str, str] | None = None) -> str:
    """Replace every run or configuration id inside ``text`` by its name in words."""

    def words(match: re.Match) -> str:
        try:
            return run_name(RunKey.parse(match.group(0)), templates)
        except RunIdError:
            return decode(match.group(0))

    return _RUN_ID.sub(words, str(text))


_MATHTEXT = re.compile(r"(?<!\\)\$")


def mpl_text(text: str) -> str:
    """Escape ``$`` so matplotlib prints it instead of starting mathtext (which can crash)."""
    return _MATHTEXT.sub(r"\\$", str(text))


def slug(*parts) -> str:
    """A file-name part made of ``[a-z0-9-_]`` only (links resolve in any Markdown renderer)."""
    text = "_".join(str(p) for p in parts if p not in (None, ""))
    text = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-").lower()
    return text or "x"
