"""The measured results in README.md, README.zh.md, docs/performance.md and each chapter's opening
box, copied from the committed notebooks.

    python -m benchmarks.readme            rewrite the generated blocks in every page and the boxes
    python -m benchmarks.readme --check    exit 1 if a page or a box does not match the notebooks

`make execute` runs it after re-running the notebooks; `make readme-results` runs it alone.
Each block sits between two marker lines naming it (`PAGES` says which page holds which block);
everything in a block comes from the notebooks: the outputs of named cells (by cell id), the
lines of their configuration cells, and the execution times nbconvert stores in every code cell.
So no page can drift from what the notebooks printed. `tests/test_readme.py` runs the check.
The `chapters` block is the one exception: its rows are typed in the page (notebook link, what
you build) and only their last column, the run time, is generated. README.zh.md, the Chinese front
page, holds the same blocks as README.md with the same numbers and tables; only the sentences
around them are Chinese (`TEXT`), and its rows link to the Chinese notebooks, notebooks/zh/.

Every notebook's first cell holds a `box` block too: the chapter's opening box, a blockquote whose
lines are typed (what you build, what you need, model and images) except the last, the run time,
which is generated from the same stored execution times and from `notebooks/fast_times.json`, the
fast-mode times that `python -m benchmarks.fast_times` measures (nbval writes no times).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# (notebook, cell id): the cells whose printed output the pages quote
FAMILY_TABLE = ("03_resnet50.ipynb", "c15")
LAYER_COUNT = ("03_resnet50.ipynb", "c19b")
LESSON_LINE = ("04_training.ipynb", "c23d")
LADDER_TABLE = ("04_training.ipynb", "c24c")
FINAL_RUN = ("04_training.ipynb", "c24")
TEST_LINE = ("05_evaluation.ipynb", "c17")
CONFIG = ("04_training.ipynb", "c03")
DEGRADATION_TRAINING = ("06_why_residuals_work.ipynb", "c17")
DEGRADATION_TABLE = ("06_why_residuals_work.ipynb", "c21")
DEGRADATION_GAPS = ("06_why_residuals_work.ipynb", "c23")
DEGRADATION_CONFIG = ("06_why_residuals_work.ipynb", "c09")
TRANSFER_CONFIG = ("08_transfer_learning.ipynb", "c09")
TRANSFER_SOURCE = ("08_transfer_learning.ipynb", "c12")
TRANSFER_RUNS = ("08_transfer_learning.ipynb", "c21")
TRANSFER_TABLE = ("08_transfer_learning.ipynb", "c23")
TRANSFER_CLAIMS = ("08_transfer_learning.ipynb", "c26")
TRANSFER_MORE_STEPS = ("08_transfer_learning.ipynb", "c28")


# The generated sentences, per language: the same fields (the numbers, lines and cells quoted from
# the notebooks) in each. A page is in Chinese when its name ends in .zh.md.
TEXT = {
    "en": {
        "run time": "Run time: the stored run of each notebook's real configuration, first cell "
                    "started to last cell finished (kernel start-up not included), from the times "
                    "stored in the committed notebooks; {total} in all. {measured}",
        "one machine": "All {count} ran on the same machine: {place}, on {date}.",
        "most machines": "{n} of the {count} ran on the same machine: {place}, on {date}; the "
                         "others where their row says.",
        "machines": "Each run time says where and when it was measured.",
        "resnet50": "Chapter 3's ResNet-50 (counted exactly, the same on every machine):",
        "final": "Trained from scratch with the course's recipe in chapter 4 (`{epochs}`, "
                 "`{size}`) and tested once in chapter 5. Stored runs: {where}.",
        "lesson": "The lesson's recipe for the same model, the first rung of chapter 4's ladder "
                  "(`{ladder}` epochs): `{line}`",
        "degradation": "The degradation experiment of chapter 6 (stored run: {where}):",
        "transfer": "Transfer learning in chapter 8 (stored run: {where}; {what}; ranges: "
                    "[docs/performance.md](docs/performance.md#transfer-learning-chapter-8)):",
    },
    "zh": {
        "run time": "运行时间：每个 notebook 以真实配置存储的那次运行，从第一个单元格开始到最后一个"
                    "单元格结束（不含内核启动），取自提交的 notebook 中存储的时间；共 {total}。"
                    "{measured}",
        "one machine": "全部 {count} 个 notebook 在同一台机器上运行：{place}，日期 {date}。",
        "most machines": "{count} 个 notebook 中有 {n} 个在同一台机器上运行：{place}，日期 {date}；"
                         "其余的见各自那一行。",
        "machines": "每个运行时间都注明了测量所用的机器和日期。",
        "resnet50": "第 3 章的 ResNet-50（精确计数，在任何机器上都相同）：",
        "final": "用课程的训练方案在第 4 章从零训练（`{epochs}`，`{size}`），并在第 5 章测试一次。"
                 "存储的运行：{where}。",
        "lesson": "原课的训练方案用于同一个模型，即第 4 章阶梯的第一级（`{ladder}` 个 epoch）："
                  "`{line}`",
        "degradation": "第 6 章的退化实验（存储的运行：{where}）：",
        "transfer": "第 8 章的迁移学习（存储的运行：{where}；notebook 打印的设置：{what}；"
                    "各格的范围见 [docs/performance.md]"
                    "(docs/performance.md#transfer-learning-chapter-8)（英文））：",
    },
}


def language(page: str) -> str:
    return "zh" if page.endswith(".zh.md") else "en"


def begin(name: str) -> str:
    return (f"<!-- BEGIN generated: {name}, by `python -m benchmarks.readme` from the notebooks' "
            "outputs -->")


def end(name: str) -> str:
    return f"<!-- END generated: {name} -->"


def notebook(name: str, root: Path = REPO) -> dict:
    return json.loads((root / "notebooks" / name).read_text(encoding="utf-8"))


def cell(name: str, cell_id: str, root: Path = REPO) -> dict:
    for c in notebook(name, root)["cells"]:
        if c.get("id") == cell_id:
            return c
    raise KeyError(f"no cell with id {cell_id!r} in notebooks/{name}")


def stdout(c: dict) -> str:
    return "".join("".join(o["text"]) for o in c.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")


def printed(name: str, cell_id: str, root: Path = REPO) -> str:
    """Everything a code cell printed to stdout, as stored in the notebook."""
    text = stdout(cell(name, cell_id, root))
    if not text.strip():
        raise ValueError(f"cell {cell_id} of notebooks/{name} has no printed output: "
                         "run `make execute` first")
    return text.strip("\n")


def config_line(name: str, cell_id: str, setting: str, root: Path = REPO) -> str:
    """The line of a configuration cell that sets `setting`, without its comment."""
    lines = [line for line in "".join(cell(name, cell_id, root)["source"]).splitlines()
             if line.startswith(f"{setting} ")]
    if not lines:
        raise ValueError(f"cell {cell_id} of notebooks/{name} no longer sets {setting}")
    return lines[0].split("#")[0].strip()


def indented(text: str) -> list[str]:
    """A printed table as a Markdown code block (four spaces), blank lines dropped."""
    return [f"    {line}" for line in text.splitlines() if line.strip()]


# --- where a notebook ran, and how long it took --------------------------------------------------

def machine(name: str, root: Path = REPO) -> str:
    """Where the stored run of a notebook was made, e.g. "AMD EPYC CPU, 2 threads, fp32": the
    device banner its first code cell printed (`setup()`) and the precision training used there,
    as the banner (or, failing that, `fit`'s first line) says; a CPU without native bf16 that
    names no precision trains in fp32."""
    return machine_of(notebook(name, root), name)


def machine_of(nb: dict, name: str) -> str:
    """`machine` for a notebook already read (or just executed): `name` is for the messages."""
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    banner = stdout(cells[0]) if cells else ""
    device = re.search(r"^device: (\w+)(?: \(([^)]*)\))?", banner, re.M)
    threads = re.search(r"threads: (\d+)", banner)
    if not device:
        raise ValueError(f"the first code cell of notebooks/{name} did not print the device "
                         "banner ('device: ...'): run `make execute`")
    named = re.search(r"training precision: (fp32|bf16|fp16)", banner)
    autocast = re.search(r"autocast (off|bfloat16|float16)",
                         banner + "".join(stdout(c) for c in cells))
    if named:  # the banner since issue 28: "... | native bf16: no | training precision: fp32"
        precision = named.group(1)
    elif autocast:  # older banners ("fast path: autocast off ..."), and fit's first line
        precision = {"off": "fp32", "bfloat16": "bf16", "float16": "fp16"}[autocast.group(1)]
    elif device.group(1) == "cpu" and "native bf16: no" in banner and "PRECISION" not in banner:
        precision = "fp32"
    else:
        raise ValueError(f"notebooks/{name} does not say which precision it trained in "
                         "(no 'autocast ...' in its outputs)")
    kind = {"cpu": "CPU", "cuda": "GPU", "mps": "GPU"}.get(device.group(1), device.group(1))
    where = " ".join(filter(None, [device.group(2), kind]))
    if kind == "CPU" and threads:
        n = int(threads.group(1))
        where += f", {n} thread{'s' if n != 1 else ''}"
    return f"{where}, {precision}"


def machines(*names: str, root: Path = REPO) -> str:
    """Where the stored runs of these notebooks were made: once if all on one machine."""
    found = {name: machine(name, root) for name in names}
    if len(set(found.values())) == 1:
        return next(iter(found.values()))
    return "; ".join(f"chapter {int(name[:2])}: {where}" for name, where in found.items())


def _time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def run_seconds(name: str, root: Path = REPO) -> tuple[float, str]:
    """Seconds from the first code cell starting to the last one finishing in the stored run
    (kernel start-up not included), and the run's date, from the times nbconvert stores in
    each code cell's `metadata.execution` (the questionnaire's cells have none)."""
    return seconds_of(notebook(name, root), name)


def seconds_of(nb: dict, name: str) -> tuple[float, str]:
    """`run_seconds` for a notebook already read (or just executed): `name` is for the messages."""
    # The questionnaire's cells are written with their outputs by `questionnaire.insert` after the
    # run (chapter 8's author and `make execute` insert them again), so they carry no times.
    times = [c.get("metadata", {}).get("execution") for c in nb["cells"]
             if c["cell_type"] == "code" and not c.get("id", "").startswith("quiz")]
    if not times or any(not t or "iopub.execute_input" not in t
                        or "shell.execute_reply" not in t for t in times):
        raise ValueError(f"notebooks/{name} has code cells without stored execution times: "
                         "run `make execute` (nbconvert stores them)")
    start, stop = _time(times[0]["iopub.execute_input"]), _time(times[-1]["shell.execute_reply"])
    return (stop - start).total_seconds(), start.date().isoformat()


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def notebooks(root: Path = REPO) -> list[str]:
    return sorted(p.name for p in (root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


# --- the blocks ----------------------------------------------------------------------------------

def chapters(root: Path, current: list[str], lang: str = "en") -> list[str]:
    """The chapter map: the rows typed in the page, each with its run time recomputed, and the
    machines and dates those times were measured on. Every notebook needs exactly one row, whose
    first cell links to it (or to its Chinese edition, notebooks/zh/) and whose last cell is the
    run time (the English notebook's: the Chinese one carries the same run)."""
    table = [line for line in current if line.startswith("|")]
    if len(table) < 3:
        raise ValueError("the chapters block must hold a Markdown table: a header, its rule "
                         "and one row per notebook")
    rows: dict[str, list[str]] = {}
    for line in table[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        link = re.search(r"\(notebooks/(?:zh/)?([^)/]+\.ipynb)\)", cells[0])
        if len(cells) < 2 or not link:
            raise ValueError(f"a row of the chapters table must start with a link to "
                             f"notebooks/NN_name.ipynb and end with the run time: {line!r}")
        rows[link.group(1)] = cells
    names = notebooks(root)
    if missing := [n for n in names if n not in rows]:
        raise ValueError(f"the chapters table has no row for {missing}")
    if extra := [n for n in rows if n not in names]:
        raise ValueError(f"the chapters table has rows for notebooks that do not exist: {extra}")
    runs = {n: (*run_seconds(n, root), machine(n, root)) for n in names}
    total = sum(seconds for seconds, _, _ in runs.values())
    where = Counter((m, d) for _, d, m in runs.values()).most_common()
    # the machine (and day) most notebooks ran on goes below the table; only the others say theirs
    usual = where[0][0] if len(where) == 1 or where[0][1] > where[1][1] else None
    out = table[:2]
    for n in names:
        seconds, date, place = runs[n]
        took = (duration(seconds) if (place, date) == usual
                else f"{duration(seconds)} ({place}, {date})")
        out.append("| " + " | ".join([*rows[n][:-1], took]) + " |")
    text = TEXT[lang]
    if len(where) == 1:
        measured = text["one machine"].format(count=len(names), place=usual[0], date=usual[1])
    elif usual is not None:
        measured = text["most machines"].format(n=where[0][1], count=len(names), place=usual[0],
                                                date=usual[1])
    else:
        measured = text["machines"]
    return [*out, "", text["run time"].format(total=duration(total), measured=measured)]


def headline(root: Path = REPO, lang: str = "en") -> list[str]:
    family_table = printed(*FAMILY_TABLE, root).splitlines()
    resnet50 = [line for line in family_table if line.split()[:2] == ["ResNet-50", "Bottleneck"]]
    final = printed(*FINAL_RUN, root).splitlines() + printed(*TEST_LINE, root).splitlines()
    gaps = printed(*DEGRADATION_GAPS, root).splitlines()
    text = TEXT[lang]
    return [
        text["resnet50"],
        "",
        *indented("\n".join(family_table[:1] + resnet50)),
        "",
        text["final"].format(epochs=config_line(*CONFIG, "EPOCHS", root),
                             size=config_line(*CONFIG, "IMAGE_SIZE", root),
                             where=machines(FINAL_RUN[0], TEST_LINE[0], root=root)),
        "",
        *indented("\n".join(final)),
        "",
        text["lesson"].format(ladder=config_line(*CONFIG, "LADDER_EPOCHS", root),
                              line=printed(*LESSON_LINE, root).strip()),
        "",
        text["degradation"].format(where=machine(DEGRADATION_TABLE[0], root)),
        "",
        *indented("\n".join(gaps[:3])),
    ]


def family(root: Path = REPO) -> list[str]:
    return [
        "Parameters and multiply-adds at 224×224 (chapter 3, torchinfo, exact):",
        "",
        *indented(printed(*FAMILY_TABLE, root)),
        "",
        "What the number in each name counts (chapter 3):",
        "",
        *indented(printed(*LAYER_COUNT, root)),
    ]


def training(root: Path = REPO) -> list[str]:
    ladder = [line for line in printed(*LADDER_TABLE, root).splitlines() if line.startswith("|")]
    final = printed(*FINAL_RUN, root).splitlines() + printed(*TEST_LINE, root).splitlines()
    return [
        f"Stored runs of chapters 4 and 5: {machines(LESSON_LINE[0], TEST_LINE[0], root=root)}.",
        "",
        f"The lesson's recipe, the first rung of the ladder "
        f"(`{config_line(*CONFIG, 'LADDER_EPOCHS', root)}` epochs), diagnosed (chapter 4): "
        f"`{printed(*LESSON_LINE, root).strip()}`",
        "",
        f"The ladder (chapter 4; each rung a fresh ResNet-50, seed 0, "
        f"`{config_line(*CONFIG, 'LADDER_EPOCHS', root)}` epochs):",
        "",
        *ladder,
        "",
        "The final run with the course's recipe (chapter 4, "
        f"`{config_line(*CONFIG, 'EPOCHS', root)}`) and its test accuracy (chapter 5):",
        "",
        *indented("\n".join(final)),
    ]


def degradation(root: Path = REPO) -> list[str]:
    return [
        f"Chapter 6, `{config_line(*DEGRADATION_CONFIG, 'SEEDS', root)}`, "
        f"`{config_line(*DEGRADATION_CONFIG, 'STEPS', root)}`, stored run: "
        f"{machine(DEGRADATION_TABLE[0], root)}. Each cell is the mean over the seeds "
        "[lowest, highest]:",
        "",
        *indented(printed(*DEGRADATION_TABLE, root)),
        "",
        *indented(printed(*DEGRADATION_GAPS, root)),
        "",
        "The time the training took, as the notebook printed it:",
        "",
        *indented(printed(*DEGRADATION_TRAINING, root).splitlines()[-1]),
    ]


def transfer(root: Path = REPO, lang: str = "en") -> list[str]:
    """The README's transfer table: scratch vs frozen vs fine-tuned over images per class, the
    mean of each cell (docs/performance.md has the ranges), and the gain against the spread."""
    lines = printed(*TRANSFER_TABLE, root).splitlines()
    header, columns, rows = lines[0], lines[1], lines[2:]
    methods = [c.strip() for c in columns.split("|")[1:]]
    cells = [[c.strip() for c in row.split("|")] for row in rows if row.strip()]
    sizes = [c[0] for c in cells]
    means = {m: [c[1 + i].split()[0] for c in cells] for i, m in enumerate(methods)}
    width = max(len(m) for m in [*methods, "images per class"])
    table = [f"{'images per class':<{width}}" + "".join(f"{n:>8}" for n in sizes)]
    table += [f"{m:<{width}}" + "".join(f"{v:>8}" for v in means[m]) for m in methods]
    gain = [line for line in printed(*TRANSFER_CLAIMS, root).splitlines()
            if "fine-tuned minus scratch" in line]
    what = header.replace("mean [lowest, highest] over", "mean over")
    return [TEXT[lang]["transfer"].format(where=machine(TRANSFER_TABLE[0], root), what=what),
            "", *indented("\n".join(table + gain))]


def transfer_details(root: Path = REPO) -> list[str]:
    """docs/performance.md's chapter 8 block: the settings, the source task, every claim."""
    return [
        f"Chapter 8, `{config_line(*TRANSFER_CONFIG, 'SEEDS', root)}`, "
        f"`{config_line(*TRANSFER_CONFIG, 'PER_CLASS', root)}`, "
        f"`{config_line(*TRANSFER_CONFIG, 'STEPS', root)}`, "
        f"`{config_line(*TRANSFER_CONFIG, 'BACKBONE_LR_SCALE', root)}`, stored run: "
        f"{machine(TRANSFER_TABLE[0], root)}. The source task, as the notebook printed it:",
        "",
        *indented("\n".join(line for line in printed(*TRANSFER_SOURCE, root).splitlines()
                            if line.startswith(("source task", "held-out")))),
        "",
        "Test accuracy on the target task, mean over the seeds [lowest, highest]:",
        "",
        *indented(printed(*TRANSFER_TABLE, root)),
        "",
        "What holds on every seed (the notebook asserts it), and what more steps give scratch:",
        "",
        *indented(printed(*TRANSFER_CLAIMS, root)),
        *indented(printed(*TRANSFER_MORE_STEPS, root)),
        "",
        "The time the runs took, as the notebook printed it:",
        "",
        *indented(printed(*TRANSFER_RUNS, root).splitlines()[-1]),
    ]


# --- each chapter's opening box ------------------------------------------------------------------

BOX = "box"  # the block in every notebook's first cell
FAST_TIMES = Path("notebooks") / "fast_times.json"  # written by `python -m benchmarks.fast_times`
RUN_TIME = re.compile(r"^> - \*\*Run time:\*\*.*$", re.M)  # the box's one generated line
QUIET = 0.25  # other programs' CPU use, in cores, above which a fast-mode time is "under load"


def fast_times(root: Path = REPO) -> dict[str, dict]:
    """The fast-mode measurements by notebook name; {} before the first measurement."""
    path = root / FAST_TIMES
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def fast_time(entry: dict | None) -> str:
    """A fast-mode measurement in words: the time, where and when, and how busy the machine was."""
    if not entry:
        return ("fast mode (`COURSE_FAST=1`) not measured yet (`python -m benchmarks.fast_times` "
                "measures it)")
    where = f"{entry['machine']}, {entry['date']}"
    if entry.get("other_cores") is None:
        where += "; how busy the machine was is not known"
    elif entry["other_cores"] > QUIET:
        where += (f"; measured under load: other programs kept {entry['other_cores']:.1f} of its "
                  f"{entry['cores']} cores busy")
    return f"{duration(entry['seconds'])} in fast mode (`COURSE_FAST=1`; {where})"


def box(root: Path, name: str, current: list[str]) -> list[str]:
    """The opening box of notebook `name`: its typed lines (a Markdown blockquote list: what you
    build, what you need, model and images) kept as they are, and the run time recomputed from
    the stored run and the fast-mode measurement."""
    typed = [line for line in current if line.strip() and not RUN_TIME.match(line)]
    if not typed or not all(line.startswith("> ") for line in typed):
        raise ValueError(f"the box of notebooks/{name} must be a Markdown blockquote (lines "
                         "starting with '> '): the typed lines, then the run time")
    seconds, date = run_seconds(name, root)
    real = (f"{duration(seconds)} for the real configuration (stored run: {machine(name, root)}, "
            f"{date})")
    return [*typed, f"> - **Run time:** {real}; {fast_time(fast_times(root).get(name))}."]


def first_markdown(nb: dict, name: str) -> dict:
    for c in nb["cells"]:
        if c["cell_type"] == "markdown":
            return c
    raise ValueError(f"notebooks/{name} has no markdown cell for its opening box")


def update_box(nb: dict, name: str, root: Path = REPO) -> str:
    """The first markdown cell's source of notebook `name` with its box regenerated."""
    text = "".join(first_markdown(nb, name)["source"])
    inner = split(text, BOX)[1]
    generated = "\n".join([begin(BOX), *box(root, name, inner.splitlines()), end(BOX)])
    return update(text, BOX, generated)


def update_notebooks(root: Path = REPO, write: bool = True) -> list[str]:
    """Regenerate every notebook's box; the notebooks whose box changed (written unless `write`
    is False). Only that cell's source changes: nbformat writes the file in its own layout."""
    import nbformat

    changed = []
    for name in notebooks(root):
        path = root / "notebooks" / name
        nb = nbformat.read(path, as_version=4)
        cell = first_markdown(nb, name)
        new = update_box(nb, name, root)
        if new != cell.source:
            changed.append(f"notebooks/{name}")
            if write:
                cell.source = new
                path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    return changed


# A block is made from the notebooks under `root`, for `chapters` from the block's current lines
# too, in the page's language (`chapters`, `headline` and `transfer` have a Chinese page).
BLOCKS: dict[str, Callable[[Path, list[str], str], list[str]]] = {
    "chapters": chapters,
    "headline": lambda root, current, lang: headline(root, lang),
    "family": lambda root, current, lang: family(root),
    "training": lambda root, current, lang: training(root),
    "degradation": lambda root, current, lang: degradation(root),
    "transfer": lambda root, current, lang: transfer(root, lang),
    "transfer-details": lambda root, current, lang: transfer_details(root),
}
# which page holds which blocks (paths relative to the repository)
PAGES: dict[str, tuple[str, ...]] = {
    "README.md": ("chapters", "headline", "transfer"),
    "README.zh.md": ("chapters", "headline", "transfer"),
    "docs/performance.md": ("family", "training", "degradation", "transfer-details"),
}


def block(name: str, root: Path = REPO, current: str = "", lang: str = "en") -> str:
    """The generated Markdown of one block, marker lines included, from the notebooks under
    `root` (and, for `chapters`, the block's current text), in `lang`."""
    return "\n".join([begin(name), *BLOCKS[name](root, current.splitlines(), lang), end(name)])


def split(page: str, name: str) -> tuple[str, str, str]:
    """`page` cut into the text before block `name`, the block's inner text and the rest."""
    if page.count(begin(name)) != 1 or page.count(end(name)) != 1:
        raise ValueError(f"the page must hold the BEGIN and END marker lines of block {name!r} "
                         "exactly once")
    head, rest = page.split(begin(name))
    inner, tail = rest.split(end(name))
    return head, inner, tail


def update(page: str, name: str, generated: str) -> str:
    """`page` with the block called `name` replaced by `generated`."""
    head, _, tail = split(page, name)
    return head + generated + tail


def update_all(page: str, names: tuple[str, ...], root: Path = REPO, lang: str = "en") -> str:
    for name in names:
        page = update(page, name, block(name, root, split(page, name)[1], lang))
    return page


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 on a difference")
    args = parser.parse_args(argv)
    stale = []
    for page, names in PAGES.items():
        path = REPO / page
        text = path.read_text(encoding="utf-8")
        new = update_all(text, names, lang=language(page))
        if new != text:
            stale.append(page)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    stale += update_notebooks(write=not args.check)
    if args.check:
        if stale:
            print(f"{', '.join(stale)}: the results differ from the notebooks' outputs: run "
                  "`python -m benchmarks.readme`", file=sys.stderr)
            return 1
        print(f"{', '.join(PAGES)} and the chapters' opening boxes match the notebooks' outputs")
        return 0
    print(f"updated from the notebooks' outputs: {', '.join(stale) or 'nothing (already current)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
