"""What the bench measures, named so that a table row's name is the --subjects item
that measures it again.

An item is `tutorial` or `floor` (the reference apps in bench/<name>/), a preset
(`levers`, `all`), or words that start from the answers `--no-input` gives:

    default                          the default answers
    L+T                              logging, tracing on, metrics off ("none": all off)
    powertools_source=layer          one option of the generated code changed
    layer_bytecode=checked-hash      the layer stand-in compiled (a variant, below)
    patch_modules=none               the rendered Tracer(...) call rewritten (a variant)
    template=main                    rendered from that git revision of this
                                     repository, not the working tree: what the
                                     template was, measured beside what it is

Words combine: `L+T powertools_source=layer patch_modules=none`. The options are the
ones the option model (matrix.py at the root) says change the generated Python
(CODE_KEYS); the defaults are its DEFAULTS (cookiecutter.json's first choices and
boolean defaults).
"""

from __future__ import annotations

import dataclasses

import matrix

DEFAULTS = {k: matrix.DEFAULTS[k] for k in matrix.CODE_KEYS}
BOOLEAN_KEYS = [k for k in matrix.CODE_KEYS if k in matrix.BOOLEANS]
CHOICE_KEYS = [k for k in matrix.CODE_KEYS if k in matrix.CHOICES]
LETTERS = {key[0].upper(): key for key in BOOLEAN_KEYS}  # L, T, M
if len(LETTERS) != len(BOOLEAN_KEYS):
    raise SystemExit(f"bench: boolean options {BOOLEAN_KEYS} share a first letter")
TRUE_WORDS, FALSE_WORDS = ("yes", "true", "1", "on"), ("no", "false", "0", "off")

# Changes the bench makes to a subject to measure one lever; the first value is the
# unchanged subject. layer_bytecode: how the layer stand-in is compiled ("none" as
# the public layer ships: its build deletes every .pyc). patch_modules: "rendered"
# leaves app.py as generated, "all" makes the call Tracer() (patch every supported
# module, Tracer's default), "none" passes patch_modules=().
VARIANTS = {
    "layer_bytecode": ("none", "checked-hash", "unchecked-hash"),
    "patch_modules": ("rendered", "all", "none"),
}
FIXTURES = ("tutorial", "floor")
REFERENCE = "tutorial"


class SubjectError(ValueError):
    """A --subjects item that names nothing measurable."""


@dataclasses.dataclass(frozen=True)
class Subject:
    fixture: str | None = None  # one of FIXTURES, or None: a generated project
    answers: tuple = ()  # (key, value) for every key of DEFAULTS
    layer_bytecode: str = VARIANTS["layer_bytecode"][0]
    patch_modules: str = VARIANTS["patch_modules"][0]
    template: str = ""  # a git revision to render from; "": the working tree

    @property
    def options(self) -> dict:
        return dict(self.answers)

    @property
    def uses_layer(self) -> bool:
        return self.fixture is None and self.options["powertools_source"] == "layer"

    @property
    def variants(self) -> dict:
        return {key: getattr(self, key) for key in VARIANTS}

    @property
    def build(self) -> Subject:
        """The subject whose sam build this one runs (the layer is not built)."""
        return dataclasses.replace(self, layer_bytecode=VARIANTS["layer_bytecode"][0])

    @property
    def label(self) -> str:
        if self.fixture:
            return self.fixture
        options = self.options
        on = [k for k in BOOLEAN_KEYS if options[k]]
        if all(options[k] == DEFAULTS[k] for k in BOOLEAN_KEYS):
            words = ["default"]
        else:
            words = ["+".join(k[0].upper() for k in on) or "none"]
        words += [f"{k}={options[k]}" for k in CHOICE_KEYS if options[k] != DEFAULTS[k]]
        words += [f"{k}={v}" for k, v in self.variants.items() if v != VARIANTS[k][0]]
        words += [f"template={self.template}"] if self.template else []
        return " ".join(words)


def generated(answers: dict, **variants: str) -> Subject:
    """A generated project: the code options of these answers, else the defaults."""
    options = {key: answers.get(key, value) for key, value in DEFAULTS.items()}
    return Subject(answers=tuple(sorted(options.items())), **variants)


def parse(item: str) -> Subject:
    """One subject from words (see the module's docstring)."""
    words = item.split()
    if len(words) == 1 and words[0] in FIXTURES:
        return Subject(fixture=words[0])
    answers, variants = {}, {}
    for word in words:
        key, _, value = word.partition("=")
        if word == "default":
            continue
        elif not value:
            booleans = [] if word == "none" else word.split("+")
            if not set(booleans) <= set(LETTERS):
                raise SubjectError(f'{item!r}: "{word}" is not a name nor key=value')
            answers |= {key: letter in booleans for letter, key in LETTERS.items()}
        elif key in VARIANTS and value in VARIANTS[key]:
            variants[key] = value
        elif key == "template" and value:
            variants[key] = value
        elif key in CHOICE_KEYS and value in matrix.CHOICES[key]:
            answers[key] = value
        elif key in BOOLEAN_KEYS and value.lower() in TRUE_WORDS + FALSE_WORDS:
            answers[key] = value.lower() in TRUE_WORDS
        else:
            choices = VARIANTS.get(key) or matrix.CHOICES.get(key) or ("yes", "no")
            known = key in VARIANTS or key in DEFAULTS
            rule = f"one of {', '.join(choices)}" if known else "no such option"
            raise SubjectError(f'{item!r}: "{word}": {rule}')
    subject = generated(answers, **variants)
    if subject.layer_bytecode != "none" and not subject.uses_layer:
        raise SubjectError(f"{item!r}: layer_bytecode needs powertools_source=layer")
    if subject.patch_modules != "rendered" and not subject.options["tracing"]:
        raise SubjectError(f"{item!r}: patch_modules needs tracing")
    return subject


def levers() -> list[Subject]:
    """The default, each generated-code choice changed once, each variant of those
    that it applies to, and the reference apps."""
    base = [generated({})]
    base += [
        generated({key: value})
        for key in CHOICE_KEYS
        for value in matrix.CHOICES[key]
        if value != DEFAULTS[key]
    ]
    subjects = []
    for subject in base:
        subjects.append(subject)
        for key, values in VARIANTS.items():
            for value in values[1:]:
                try:
                    subjects.append(parse(f"{subject.label} {key}={value}"))
                except SubjectError:
                    pass  # the variant does not apply to this subject
    return subjects + [Subject(fixture=name) for name in FIXTURES]


def every_combination() -> list[Subject]:
    return [generated(a) for a in matrix.code_matrix()] + [
        Subject(fixture=name) for name in FIXTURES
    ]


PRESETS = {"levers": levers, "all": every_combination}


def select(items: str) -> list[Subject]:
    """The subjects of a comma-separated --subjects value, the default first, each
    once, otherwise in the order given."""
    subjects: list[Subject] = []
    for item in filter(None, (i.strip() for i in items.split(","))):
        for subject in PRESETS[item]() if item in PRESETS else [parse(item)]:
            if subject not in subjects:
                subjects.append(subject)
    if not subjects:
        raise SubjectError("--subjects names no subject")
    return sorted(subjects, key=lambda s: s.label != "default")
