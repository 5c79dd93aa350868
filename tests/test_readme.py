"""The measured results in README.md, README.zh.md and docs/performance.md are the committed
notebooks' outputs (and their stored execution times), not typed by hand; the Chinese front page
quotes the same numbers and tables as the English one."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from benchmarks import readme


@pytest.mark.parametrize("page", sorted(readme.PAGES))
def test_generated_blocks_match_the_committed_notebooks(page: str):
    text = (readme.REPO / page).read_text(encoding="utf-8")
    assert readme.update_all(text, readme.PAGES[page], lang=readme.language(page)) == text, (
        f"{page}'s results differ from the notebooks' outputs: run `python -m benchmarks.readme`")


def test_every_block_lives_on_exactly_one_english_page():
    placed = [name for page, names in readme.PAGES.items() for name in names
              if readme.language(page) == "en"]
    assert sorted(placed) == sorted(readme.BLOCKS)
    assert readme.PAGES["README.zh.md"] == readme.PAGES["README.md"]
    assert set(readme.TEXT["zh"]) == set(readme.TEXT["en"])


def _blocks(page: str) -> dict[str, str]:
    text = (readme.REPO / page).read_text(encoding="utf-8")
    return {name: readme.split(text, name)[1] for name in readme.PAGES[page]}


NUMBER = re.compile(r"\d[\d,.]*\d|\d")


def test_the_chinese_front_page_quotes_the_same_numbers_and_tables():
    english, chinese = _blocks("README.md"), _blocks("README.zh.md")
    for name in english:
        en, zh = english[name], chinese[name]
        # the tables and printed lines quoted from the notebooks, character for character
        assert [line for line in en.splitlines() if line.startswith("    ")] == [
            line for line in zh.splitlines() if line.startswith("    ")], name
        assert re.findall(r"`[^`]+`", en) == re.findall(r"`[^`]+`", zh), name
        # every number, and nothing else: only the words around them are Chinese
        assert Counter(NUMBER.findall(en)) == Counter(NUMBER.findall(zh)), name
        assert re.search(r"[\u4e00-\u9fff]", zh) and not re.search(r"[\u4e00-\u9fff]", en)
    rows = [[line.split("|") for line in blocks["chapters"].splitlines()
             if line.startswith("| [")] for blocks in (english, chinese)]
    assert [r[-2] for r in rows[0]] == [r[-2] for r in rows[1]]  # the run-time column
    links = [[re.search(r"\((notebooks/[^)]+)\)", r[1]).group(1) for r in found] for found in rows]
    assert [link.replace("notebooks/", "notebooks/zh/") for link in links[0]] == links[1]


def test_the_readme_links_to_the_chinese_page_in_its_first_lines():
    first = (readme.REPO / "README.md").read_text(encoding="utf-8").splitlines()[:4]
    assert any("(README.zh.md)" in line for line in first)
    assert "[English](README.md)" in (readme.REPO / "README.zh.md").read_text(
        encoding="utf-8").splitlines()[2]


BANNER = ("=====\ndevice: cpu (AMD EPYC) | threads: 2 | torch 2.14.1\n"
          "torchvision 0.29.1 | native bf16: no\n"
          "fast path: autocast off (fp32), channels-last on\n")


def _notebook(cells: list[dict]) -> dict:
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _code(cell_id: str, source: str, printed: str = "", start: str = "2026-11-29T20:00:00Z",
          stop: str = "2026-11-29T20:00:01Z") -> dict:
    outputs = [{"output_type": "stream", "name": "stdout", "text": printed}] if printed else []
    execution = {"iopub.execute_input": start, "shell.execute_reply": stop}
    return {"cell_type": "code", "id": cell_id, "source": source, "outputs": outputs,
            "metadata": {"execution": execution}, "execution_count": 1}


def _write(root: Path, name: str, cells: list[dict]) -> dict:
    (root / "notebooks").mkdir(exist_ok=True)
    nb = _notebook(cells)
    (root / "notebooks" / name).write_text(json.dumps(nb))
    return nb


def test_training_block_quotes_the_named_cells(tmp_path: Path):
    _write(tmp_path, "04_training.ipynb", [
        _code("c01", "device = setup()", BANNER),
        _code("c03", "IMAGE_SIZE = 48\nLADDER_EPOCHS = 1 if FAST else 3  # each rung\n"
                     "EPOCHS = 2 if FAST else 10  # the final run\n"),
        _code("c23d", "print(...)", "last epoch: validation loss 1.386\n"),
        _code("c24c", "print(table)", "| rung | best |\n| --- | --- |\n| lesson | 25.0% "
                                      "|\n<Figure>\n"),
        _code("c24", "print(...)", "best epoch: 9 of 10\ntraining time: 9.1 min\n"),
    ])
    ch5 = _write(tmp_path, "05_evaluation.ipynb", [
        _code("c01", "device = setup()", BANNER),
        _code("c17", "print(...)", "test:       accuracy 95.0%\n")])
    text = readme.block("training", tmp_path)
    assert text.startswith(readme.begin("training")) and text.endswith(readme.end("training"))
    assert "Stored runs of chapters 4 and 5: AMD EPYC CPU, 2 threads, fp32." in text
    assert ("The lesson's recipe, the first rung of the ladder (`LADDER_EPOCHS = 1 if FAST else 3` "
            "epochs), diagnosed (chapter 4): `last epoch: validation loss 1.386`") in text
    assert "`EPOCHS = 2 if FAST else 10`" in text
    assert "| lesson | 25.0% |" in text and "<Figure>" not in text  # table lines only
    assert ("    best epoch: 9 of 10\n    training time: 9.1 min\n    test:       accuracy 95.0%"
            in text)
    # a cell that printed nothing (never executed) is refused, not quoted as empty
    ch5["cells"][1]["outputs"] = []
    (tmp_path / "notebooks" / "05_evaluation.ipynb").write_text(json.dumps(ch5))
    with pytest.raises(ValueError, match="c17 of notebooks/05_evaluation.ipynb has no printed "
                                         "output"):
        readme.block("training", tmp_path)


def _ch3_and_ch6(root: Path) -> None:
    _write(root, "03_resnet50.ipynb", [
        _code("c01", "device = setup()", BANNER),
        _code("c15", "print(table)", "model       block   params\n"
                                     "ResNet-18   BasicBlock  11,689,512\n"
                                     "ResNet-50   Bottleneck  25,557,032\n"
                                     "ResNet-50 / ResNet-34: 1.17x\n"),
        _code("c19b", "print(table)", "model  layers\n\nResNet-18  18\n")])
    _write(root, "06_why_residuals_work.ipynb", [
        _code("c01", "device = setup()",
              BANNER.replace("autocast off (fp32)", "autocast bfloat16")),
        _code("c09",
              "STEPS = 6 if FAST else 300  # steps\nSEEDS = (0, 1) if FAST else (0, 1, 2)\n"),
        _code("c17", "train()", "seed 0 plain-20: loss 0.1\n12 runs of 300 steps in 11.5 min\n"),
        _code("c21", "print(table)", "  network  train loss\nplain-20  0.171 [0.1, 0.2]\n"),
        _code("c23", "print(gaps)", "final training loss, per seed:\n"
                                    "  plain-56 minus plain-20: +1.1\n"
                                    "  ResNet-56 minus ResNet-20: -0.01\nplain-56's loss: 1.3\n"),
    ])


def test_family_and_degradation_blocks_quote_their_cells(tmp_path: Path):
    _ch3_and_ch6(tmp_path)
    fam = readme.block("family", tmp_path)
    assert "    ResNet-18   BasicBlock  11,689,512" in fam and "    ResNet-18  18" in fam
    assert "\n    \n" not in fam  # blank printed lines are dropped, not quoted as empty code lines
    deg = readme.block("degradation", tmp_path)
    assert "`SEEDS = (0, 1) if FAST else (0, 1, 2)`" in deg
    assert "`STEPS = 6 if FAST else 300`" in deg
    assert "stored run: AMD EPYC CPU, 2 threads, bf16." in deg  # the precision the banner names
    assert "      network  train loss" in deg  # the table's own alignment is kept
    assert "    plain-56's loss: 1.3" in deg
    # the time the twelve runs took is the notebook's own last line, not a typed estimate
    assert deg.endswith("    12 runs of 300 steps in 11.5 min\n" + readme.end("degradation"))


def test_headline_quotes_resnet50_the_final_run_and_the_gaps(tmp_path: Path):
    _ch3_and_ch6(tmp_path)
    _write(tmp_path, "04_training.ipynb", [
        _code("c01", "device = setup()", BANNER),
        _code("c03", "IMAGE_SIZE = 40\nLADDER_EPOCHS = 3\nEPOCHS = 10\n"),
        _code("c23d", "print(...)", "last epoch: validation accuracy 44.4%\n"),
        _code("c24", "print(...)", "best epoch: 9 of 10\n")])
    _write(tmp_path, "05_evaluation.ipynb", [
        _code("c01", "device = setup()", BANNER.replace("AMD EPYC", "Intel Xeon")),
        _code("c17", "print(...)", "test:       accuracy 99.7%\n")])
    text = readme.block("headline", tmp_path)
    assert "    ResNet-50   Bottleneck  25,557,032" in text
    assert "ResNet-18" not in text and "1.17x" not in text  # only ResNet-50's row and the header
    assert "    best epoch: 9 of 10\n    test:       accuracy 99.7%" in text
    # two machines: each chapter says its own
    assert ("Stored runs: chapter 4: AMD EPYC CPU, 2 threads, fp32; chapter 5: Intel Xeon CPU, "
            "2 threads, fp32.") in text
    assert "`last epoch: validation accuracy 44.4%`" in text
    assert "  plain-56 minus plain-20: +1.1" in text and "plain-56's loss" not in text


def _chapters_block(rows: list[str]) -> str:
    return "\n".join(["", "| chapter | what you build | run time |", "| --- | --- | --- |", *rows,
                      "", "typed text that the generator replaces", ""])


def test_chapters_block_times_every_notebook_and_keeps_the_typed_columns(tmp_path: Path):
    _write(tmp_path, "01_data.ipynb", [
        _code("c01", "device = setup()", BANNER, "2026-11-29T20:00:00Z", "2026-11-29T20:00:04Z"),
        _code("c02", "x = 1", "", "2026-11-29T20:00:05Z", "2026-11-29T20:00:14.4Z")])
    _write(tmp_path, "02_train.ipynb", [
        _code("c01", "device = setup()", BANNER, "2026-11-29T19:00:00Z", "2026-11-29T19:00:05Z"),
        _code("c02", "fit()", "", "2026-11-29T19:00:05Z", "2026-11-29T19:22:04Z")])
    current = _chapters_block([
        "| [1 Data](notebooks/01_data.ipynb) | a folder, loaded | 3 hours |",
        "| [2 Training](notebooks/02_train.ipynb) | `fit`, at 40 px | ? |"])
    text = readme.block("chapters", tmp_path, current)
    assert "| [1 Data](notebooks/01_data.ipynb) | a folder, loaded | 14 s |" in text
    assert "| [2 Training](notebooks/02_train.ipynb) | `fit`, at 40 px | 22 min |" in text
    assert "; 22 min in all. All 2 ran on the same machine: AMD EPYC CPU, 2 threads, fp32, " \
           "on 2026-11-29." in text
    assert "typed text" not in text
    assert readme.block("chapters", tmp_path, text) == text  # idempotent
    # the Chinese page: its rows link to notebooks/zh/, the same run times, Chinese around them
    zh = readme.block("chapters", tmp_path, current.replace("(notebooks/", "(notebooks/zh/"), "zh")
    assert "| [1 Data](notebooks/zh/01_data.ipynb) | a folder, loaded | 14 s |" in zh
    assert ("共 22 min。全部 2 个 notebook 在同一台机器上运行：AMD EPYC CPU, 2 threads, fp32，日期 "
            "2026-11-29。") in zh
    # notebooks run on different machines: each time says where and when
    _write(tmp_path, "02_train.ipynb", [
        _code("c01", "device = setup()", BANNER.replace("AMD EPYC", "Intel Xeon"),
              "2026-12-01T19:00:00Z", "2026-12-01T19:00:05Z")])
    mixed = readme.block("chapters", tmp_path, text)
    assert "| a folder, loaded | 14 s (AMD EPYC CPU, 2 threads, fp32, 2026-11-29) |" in mixed
    assert "| `fit`, at 40 px | 5 s (Intel Xeon CPU, 2 threads, fp32, 2026-12-01) |" in mixed
    assert "Each run time says where and when it was measured." in mixed  # no majority
    assert readme.block("chapters", tmp_path, mixed) == mixed
    # most on one machine: only the others say where they ran
    _write(tmp_path, "03_more.ipynb", [
        _code("c01", "device = setup()", BANNER, "2026-11-29T18:00:00Z", "2026-11-29T18:00:03Z")])
    three = readme.block("chapters", tmp_path, _chapters_block([
        *current.splitlines()[3:5], "| [3 More](notebooks/03_more.ipynb) | more | ? |"]))
    assert "| a folder, loaded | 14 s |" in three and "| more | 3 s |" in three
    assert "| `fit`, at 40 px | 5 s (Intel Xeon CPU, 2 threads, fp32, 2026-12-01) |" in three
    assert "2 of the 3 ran on the same machine: AMD EPYC CPU, 2 threads, fp32" in three
    (tmp_path / "notebooks" / "03_more.ipynb").unlink()
    _write(tmp_path, "02_train.ipynb", [
        _code("c01", "device = setup()", BANNER, "2026-11-29T19:00:00Z", "2026-11-29T19:00:05Z"),
        _code("c02", "fit()", "", "2026-11-29T19:00:05Z", "2026-11-29T19:22:04Z")])
    # a notebook without a row, a row without a notebook, a cell never executed: refused
    with pytest.raises(ValueError, match=r"no row for \['02_train.ipynb'\]"):
        readme.block("chapters", tmp_path, _chapters_block(current.splitlines()[3:4]))
    with pytest.raises(ValueError, match="do not exist: \\['03_x.ipynb'\\]"):
        readme.block("chapters", tmp_path, current.replace(
            "typed text", "| [3](notebooks/03_x.ipynb) | x | 1 s |\n"))
    # the questionnaire's cells, which questionnaire.insert writes after the run, have no times
    nb = _notebook([_code("c01", "device = setup()", BANNER, "2026-11-29T19:00:00Z",
                          "2026-11-29T19:00:05Z"),
                    _code("quiz2-checks", "quiz2.q1.check(q1)", "Correct")])
    nb["cells"][1]["metadata"] = {}
    (tmp_path / "notebooks" / "02_train.ipynb").write_text(json.dumps(nb))
    assert "| `fit`, at 40 px | 5 s |" in readme.block("chapters", tmp_path, current)
    nb["cells"][1]["id"] = "c02"  # any other cell without times was never executed
    (tmp_path / "notebooks" / "02_train.ipynb").write_text(json.dumps(nb))
    with pytest.raises(ValueError, match="02_train.ipynb has code cells without stored "
                                         "execution times"):
        readme.block("chapters", tmp_path, current)


def test_a_notebook_that_names_no_device_or_precision_is_refused(tmp_path: Path):
    _write(tmp_path, "01_x.ipynb", [_code("c01", "print('hello')", "hello\n")])
    with pytest.raises(ValueError, match="did not print the device banner"):
        readme.machine("01_x.ipynb", tmp_path)
    _write(tmp_path, "01_x.ipynb", [_code("c01", "setup()", "device: cuda (NVIDIA H100)\n")])
    with pytest.raises(ValueError, match="does not say which precision"):
        readme.machine("01_x.ipynb", tmp_path)
    _write(tmp_path, "01_x.ipynb", [
        _code("c01", "setup()", "device: cuda (NVIDIA H100) | threads: 16\n"),
        _code("c02", "fit()", "fit: ... | fast path: autocast bfloat16, channels-last on\n")])
    assert readme.machine("01_x.ipynb", tmp_path) == "NVIDIA H100 GPU, bf16"
    # the banner names the training precision itself (and it wins over an older fit line)
    _write(tmp_path, "01_x.ipynb", [
        _code("c01", "setup()", "device: cpu (AMD EPYC) | threads: 2 | native bf16: no\n"
                                "training precision: bf16 | forced by COURSE_PRECISION=bf16\n"),
        _code("c02", "fit()", "fit: ... | fast path: autocast off (fp32), channels-last on\n")])
    assert readme.machine("01_x.ipynb", tmp_path) == "AMD EPYC CPU, 2 threads, bf16"
    # a CPU without native bf16 that prints no autocast setting trains in fp32
    _write(tmp_path, "01_x.ipynb", [
        _code("c01", "setup()", "device: cpu (AMD EPYC)\n| threads: 2 | native bf16: no\n")])
    assert readme.machine("01_x.ipynb", tmp_path) == "AMD EPYC CPU, 2 threads, fp32"


def test_update_replaces_only_the_named_block():
    old = (f"intro\n{readme.begin('a')}\nold a\n{readme.end('a')}\n"
           f"middle\n{readme.begin('b')}\nold b\n{readme.end('b')}\noutro\n")
    new = readme.update(old, "a", f"{readme.begin('a')}\nnew a\n{readme.end('a')}")
    assert new == old.replace("old a", "new a")
    with pytest.raises(ValueError, match="marker lines of block 'c'"):
        readme.update(old, "c", "x")


# --- each chapter's opening box ------------------------------------------------------------------

@pytest.mark.parametrize("name", readme.notebooks())
def test_each_chapters_opening_box_matches_its_stored_run(name: str):
    nb = readme.notebook(name)
    text = "".join(readme.first_markdown(nb, name)["source"])
    assert readme.update_box(nb, name) == text, (
        f"notebooks/{name}: the opening box's run time differs from the stored run or from "
        f"{readme.FAST_TIMES}: run `python -m benchmarks.readme`")


def _boxed(typed: str, run_time: str = "> - **Run time:** typed by hand, 3 hours.") -> dict:
    return {"cell_type": "markdown", "id": "c00", "metadata": {},
            "source": f"# Chapter 1\n\n{readme.begin('box')}\n{typed}\n{run_time}\n"
                      f"{readme.end('box')}\n\nThe lesson ..."}


def test_the_box_keeps_its_typed_lines_and_times_the_stored_and_the_fast_run(tmp_path: Path):
    typed = "> - **You build:** a loader\n> - **You need:** nothing"
    nb = _write(tmp_path, "01_data.ipynb", [
        _boxed(typed),
        _code("c01", "device = setup()", BANNER, "2026-11-29T20:00:00Z", "2026-11-29T20:00:04Z"),
        _code("c02", "x = 1", "", "2026-11-29T20:00:05Z", "2026-11-29T20:00:14.4Z")])
    text = readme.update_box(nb, "01_data.ipynb", tmp_path)
    assert text.startswith(f"# Chapter 1\n\n{readme.begin('box')}\n{typed}\n")
    assert ("> - **Run time:** 14 s for the real configuration (stored run: AMD EPYC CPU, 2 "
            "threads, fp32, 2026-11-29); fast mode (`COURSE_FAST=1`) not measured yet "
            "(`python -m benchmarks.fast_times` measures it).\n" + readme.end("box")) in text
    assert text.endswith("\n\nThe lesson ...") and "3 hours" not in text
    # the fast-mode time, quiet and under load
    entry = {"seconds": 95.0, "date": "2026-12-01", "machine": "AMD EPYC CPU, 2 threads, fp32",
             "cores": 2, "other_cores": 0.1}
    (tmp_path / readme.FAST_TIMES).write_text(json.dumps({"01_data.ipynb": entry}))
    text = readme.update_box(nb, "01_data.ipynb", tmp_path)
    assert ("; 95 s in fast mode (`COURSE_FAST=1`; AMD EPYC CPU, 2 threads, fp32, 2026-12-01)."
            in text)
    nb["cells"][0]["source"] = text
    assert readme.update_box(nb, "01_data.ipynb", tmp_path) == text  # idempotent
    (tmp_path / readme.FAST_TIMES).write_text(json.dumps(
        {"01_data.ipynb": dict(entry, other_cores=1.3)}))
    assert ("fp32, 2026-12-01; measured under load: other programs kept 1.3 of its 2 cores busy)."
            in readme.update_box(nb, "01_data.ipynb", tmp_path))
    (tmp_path / readme.FAST_TIMES).write_text(json.dumps(
        {"01_data.ipynb": dict(entry, other_cores=None)}))
    assert "2026-12-01; how busy the machine was is not known)." in readme.update_box(
        nb, "01_data.ipynb", tmp_path)
    # a box that is not a blockquote, a notebook without a box: refused with a message
    nb["cells"][0] = _boxed("You build: a loader")
    with pytest.raises(ValueError, match="must be a Markdown blockquote"):
        readme.update_box(nb, "01_data.ipynb", tmp_path)
    nb["cells"][0]["source"] = "# Chapter 1\n"
    with pytest.raises(ValueError, match="marker lines of block 'box'"):
        readme.update_box(nb, "01_data.ipynb", tmp_path)


def test_update_notebooks_rewrites_only_the_boxes_source(tmp_path: Path):
    import nbformat

    _write(tmp_path, "01_data.ipynb", [
        _boxed("> - **You build:** a loader"),
        _code("c01", "device = setup()", BANNER, "2026-11-29T20:00:00Z", "2026-11-29T20:00:04Z")])
    path = tmp_path / "notebooks" / "01_data.ipynb"
    path.write_text(nbformat.writes(nbformat.read(path, as_version=4)) + "\n")
    before = nbformat.read(path, as_version=4)
    assert readme.update_notebooks(tmp_path, write=False) == ["notebooks/01_data.ipynb"]
    assert nbformat.read(path, as_version=4) == before  # --check writes nothing
    assert readme.update_notebooks(tmp_path) == ["notebooks/01_data.ipynb"]
    after = nbformat.read(path, as_version=4)
    assert "4 s for the real configuration" in after.cells[0].source
    assert after.cells[1] == before.cells[1]  # the code cell, its outputs and times untouched
    assert readme.update_notebooks(tmp_path) == []


def test_other_programs_load_is_the_machines_cpu_time_less_our_own():
    from benchmarks import fast_times

    # the machine used 30 CPU-seconds in 20 s, we used 24 of them: others kept 0.3 cores busy
    assert fast_times.other_cores((100.0, 130.0), (5.0, 29.0), 20.0) == 0.3
    assert fast_times.other_cores((100.0, 110.0), (5.0, 17.0), 20.0) == 0.0  # never negative
    assert fast_times.other_cores((None, 130.0), (5.0, 29.0), 20.0) is None
    assert fast_times.machine_busy_seconds() is None or fast_times.machine_busy_seconds() > 0
