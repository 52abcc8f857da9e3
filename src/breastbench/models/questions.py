"""Question sets for generative VLMs used as zero-shot and in-context classifiers.

A question set is a YAML data file (shipped ones in ``breastbench/prompts/questions``, or any
path): the ``question`` put to the instruct model about one image, an optional
``magnification_question`` with ``{magnification}`` (the magnification-aware variant), and the
``answers`` of each class, one or more strings. Each class is scored by the probability of its
answer strings (see :mod:`breastbench.models.vlm.generative`), so nothing is sampled and no
free text is parsed. The first answer of a class is the reply shown for in-context examples.
The same names as the CLIP prompt sets are used, so one ``prompt_set:`` serves both families.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from breastbench.errors import UserError
from breastbench.models.prompts import read_prompt_file, resolve_class


@dataclass(frozen=True)
class QuestionSet:
    """Validated content of one question YAML file."""

    name: str
    source: str  # file the set was read from, named in errors
    question: str
    answers: dict[str, tuple[str, ...]]
    magnification_question: str | None = None
    aliases: dict[str, str] = field(default_factory=dict)

    def text(self, magnification: int | None = None) -> str:
        """The question, in its magnification-aware variant when a magnification is given."""
        if magnification is None:
            return self.question
        if not self.magnification_question:
            raise UserError(
                f"question file {self.source} has no `magnification_question`; set "
                "magnification_prompts: false or add a question containing {magnification}"
            )
        return self.magnification_question.format(magnification=int(magnification))

    def answers_for(self, classes: list[str]) -> list[tuple[str, ...]]:
        """The answer strings of each dataset class, in the targets' order."""
        keys = [
            resolve_class(c, self.answers, self.aliases, self.source, "answers") for c in classes
        ]
        if len(set(keys)) != len(keys):
            raise UserError(
                f"question file {self.source}: classes {classes} map onto the same answers; "
                "give each class its own entry under `answers:`"
            )
        return [self.answers[k] for k in keys]


def question_dir() -> Path:
    """Folder of the shipped question sets."""
    return Path(str(resources.files("breastbench") / "prompts" / "questions"))


def list_question_sets() -> list[str]:
    """Names of the shipped question sets (file stems)."""
    return sorted(p.stem for p in question_dir().glob("*.yaml"))


def load_questions(name_or_path: str | os.PathLike | QuestionSet) -> QuestionSet:
    """Load a shipped set by name (``histology_binary``) or any YAML file by path."""
    if isinstance(name_or_path, QuestionSet):
        return name_or_path
    path, raw = read_prompt_file(name_or_path, question_dir(), "question set")
    return _validate(raw, str(path))


def _validate(raw, source: str) -> QuestionSet:
    def bad(msg: str) -> UserError:
        return UserError(f"question file {source}: {msg}")

    if not isinstance(raw, dict):
        raise bad("expected a mapping with `question` and `answers`")
    question = raw.get("question")
    if not isinstance(question, str) or not question.strip() or "{" in question:
        raise bad("`question` must be a non-empty string without {placeholders}")
    mag = raw.get("magnification_question")
    if mag is not None and (not isinstance(mag, str) or "{magnification}" not in mag):
        raise bad("`magnification_question` must be a string containing {magnification}")
    answers = raw.get("answers")
    if not isinstance(answers, dict) or len(answers) < 2:
        raise bad("`answers` must map each class (at least two) to a list of answer strings")
    for key, values in answers.items():
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str) and v.strip() for v in values)
        ):
            raise bad(f"class '{key}' needs a non-empty list of answer strings")
    aliases = {str(k): str(v) for k, v in (raw.get("aliases") or {}).items()}
    for alias, target in aliases.items():
        if target not in answers:
            raise bad(f"alias '{alias}' points to unknown class '{target}'")
    return QuestionSet(
        name=str(raw.get("name", Path(source).stem)),
        source=source,
        question=question.strip(),
        answers={str(k): tuple(v) for k, v in answers.items()},
        magnification_question=mag.strip() if mag else None,
        aliases=aliases,
    )
