"""Report: the tables of bench/README.md, generated from bench/results/<name>.json.

bench/README.md marks each generated block with `<!-- bench: NAME [PRESET] -->`
... `<!-- bench: end -->`: the rows of results/NAME.json, or only those of a
--subjects preset. `python -m bench report` rewrites the blocks from the data;
`--check` fails if a block differs, if a row's name no longer measures that row,
or if the data was measured with other default answers than cookiecutter.json's.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

from . import subjects as s

BENCH = Path(__file__).resolve().parent
README = BENCH / "README.md"
RESULTS = BENCH / "results"
BLOCK = re.compile(
    r"(<!-- bench: (\w+)(?: (\w+))? -->\n)(.*?)(<!-- bench: end -->)", re.S
)
# Issue 9's goals for the default answers, as ratios to the tutorial app.
GOALS = {"cold init": 0.5, "artifact": 0.3, "warm invoke": 0.8}


def load(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text("utf-8"))


def round_ratio(values: list, reference: list) -> float:
    """Median over rounds of the ratio to the reference measured in the same round."""
    return statistics.median(v / r for v, r in zip(values, reference, strict=True))


def ratios(row: dict, ref: dict | None) -> dict:
    if not ref:
        return {}
    return {
        "cold init": round_ratio(row["cold_ms"], ref["cold_ms"]),
        "warm invoke": round_ratio(row["warm_round_us"], ref["warm_round_us"]),
        "artifact": row["artifact_bytes"] / ref["artifact_bytes"],
    }


def header(meta: dict) -> str:
    start, end = meta["load_average"]
    return (
        f"Measured {meta['date']} with `{meta['command']}` on {meta['machine']} "
        f"(load average {start:.1f} at the start, {end:.1f} at the end); "
        f"{meta['python']} (`-S`, read-only code, no bytecode written); "
        f"Powertools {meta['powertools']}, boto3 {meta['boto3']} in the runtime "
        f"directory, SAM CLI {meta['sam']}; {meta['runtime']} {meta['arch']} builds. "
        f"Cold init: median of {meta['runs']} rounds; warm invoke: median of "
        f"{meta['rounds']} rounds of {meta['calls'] // meta['rounds']} calls; "
        "×: median over rounds of the ratio to `tutorial` in the same round "
        "(artifact: the ratio of sizes)."
    )


def legend(meta: dict) -> str:
    defaults = meta["defaults"]
    on = "+".join(k[0].upper() for k in s.BOOLEAN_KEYS if defaults[k]) or "none"
    choices = ", ".join(f"{k}={defaults[k]}" for k in s.CHOICE_KEYS)
    return (
        f"`default` = the answers `--no-input` gives ({on}, {choices}); L, T, M = "
        "logging, tracing, metrics on. A row's name is the `--subjects` item that "
        "measures it again (see Subjects in bench/README.md)."
    )


def number(value: float, digits: int = 0) -> str:
    return f"{value:.{digits}f}"


def table(data: dict, preset: str | None = None) -> str:
    """The markdown of one block: every row of the data, or a preset's rows."""
    wanted = [x.label for x in s.PRESETS[preset]()] if preset else None
    rows = [r for r in data["subjects"] if not wanted or r["label"] in wanted]
    if wanted:
        rows.sort(key=lambda r: wanted.index(r["label"]))
    ref = next((r for r in data["subjects"] if r["label"] == s.REFERENCE), None)
    lines = [
        header(data["meta"]),
        "",
        "| subject | cold init ms | × | warm invoke µs | × | artifact MB | × "
        "| layer MB | peak RSS MB |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        x = {k: f"{v:.2f}×" for k, v in ratios(row, ref).items()}
        layer = row["layer_bytes"]
        lines.append(
            f"| `{row['label']}` | {statistics.median(row['cold_ms']):.0f} "
            f"| {x.get('cold init', '–')} "
            f"| {statistics.median(row['warm_round_us']):.0f} "
            f"| {x.get('warm invoke', '–')} "
            f"| {row['artifact_bytes'] / 1e6:.1f} | {x.get('artifact', '–')} "
            f"| {'–' if layer is None else f'{layer / 1e6:.1f}'} "
            f"| {statistics.median(row['rss_kb']) / 1024:.0f} |"
        )
    lines += ["", legend(data["meta"])]
    same = [
        f"`{a}` (as `{b}`)"
        for a, b in data["same_as"].items()
        if not wanted or a in wanted
    ]
    if same:
        lines += ["", "Not measured again, same function code: " + ", ".join(same)]
    default = next((r for r in rows if r["label"] == "default"), None)
    if default and ref:
        lines += ["", goals(default, ref)]
    return "\n".join(lines) + "\n"


def goals(default: dict, ref: dict) -> str:
    parts = []
    for name, value in ratios(default, ref).items():
        goal = GOALS[name]
        verdict = "met" if value <= goal else f"not met by {value - goal:.2f}×"
        parts.append(f"{name} {value:.2f}× (goal ≤ {goal}×: {verdict})")
    if default["layer_bytes"] is not None:
        parts.append(f"the layer beside it {default['layer_bytes'] / 1e6:.1f} MB")
    return "Goals for `default` (issue 9): " + "; ".join(parts) + "."


def problems(data: dict, name: str) -> list[str]:
    """Why the data cannot stand for what its rows are named."""
    found = []
    if data["meta"]["defaults"] != s.DEFAULTS:
        return [
            f"results/{name}.json was measured with the defaults "
            f"{data['meta']['defaults']}, cookiecutter.json now gives {s.DEFAULTS}: "
            f"measure again with `{data['meta']['command']}`"
        ]
    for row in data["subjects"]:
        try:
            again = s.parse(row["label"])
        except s.SubjectError as error:
            found.append(f"results/{name}.json: {error}")
            continue
        if (
            row["fixture"] != again.fixture
            or row["variants"] != again.variants
            or (again.fixture is None and row["answers"] != again.options)
        ):
            found.append(
                f"results/{name}.json: `{row['label']}` measures other answers"
            )
    return found


def update(readme: Path = README, check: bool = False) -> list[str]:
    """Rewrite (or with check, compare) every generated block of the README."""
    text = readme.read_text("utf-8")
    found, cache = [], {}

    def block(match: re.Match) -> str:
        opening, name, preset, old, closing = match.groups()
        if not (RESULTS / f"{name}.json").exists():
            found.append(f"{readme.name}: no bench/results/{name}.json")
            return match.group(0)
        if name not in cache:
            cache[name] = load(name)
            found.extend(problems(cache[name], name))
        new = table(cache[name], preset)
        if new != old:
            found.append(
                f"{readme.name}: block `{name} {preset or ''}` differs from the data"
            )
        return opening + new + closing

    new_text = BLOCK.sub(block, text)
    if not check and new_text != text:
        readme.write_text(new_text, "utf-8")
    found = list(dict.fromkeys(found))
    return found if check else [p for p in found if "differs" not in p]
