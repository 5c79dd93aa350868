"""Learner-facing messages in the learner's language: English by default, Chinese under
COURSE_LANG=zh, English again for anything the catalogue does not translate; and the catalogue in
step with the code (every marked message has an entry, every entry a message, the same fields)."""

from __future__ import annotations

import ast
import functools
import re
import textwrap
from pathlib import Path

import polib
import pytest

from course_utils import i18n
from course_utils.data.folders import ImageFolderDataset, resolve_data_dir
from course_utils.data.images import DataError
from course_utils.exercises import CHAPTERS, ch1, ch2, exercises, questionnaire, quiz1, quiz2, quiz4
from course_utils.exercises.references import RefBasic
from course_utils.instructor import messages, translation

PACKAGE = Path(i18n.__file__).resolve().parent
# The modules whose learner-facing messages go through the catalogue. Phase 2 of the Chinese
# edition adds the rest (docs/maintainers.md, "Translating"): each module added here is held to it.
CONVERTED = ["exercises/core.py", "exercises/questionnaire.py", "data/folders.py",
             "exercises/checks.py", "exercises/blocks.py", "exercises/references.py",
             "exercises/ch3_parts.py",
             *(f"exercises/ch{n}.py" for n in range(1, 9)),
             *(f"exercises/quiz{n}.py" for n in range(1, 9)),
             "data/scan.py", "data/images.py", "data/decoded.py", "data/splits.py",
             "data/loaders.py", "data/transforms.py",
             "training/checkpoints.py", "training/fitting.py", "training/command.py",
             "training/resume.py", "training/transfer.py", "training/history.py",
             "training/distributed.py",
             "models/pretrained.py", "models/weight_files.py", "models/transfer.py",
             "models/architectures.py", "evaluation/predict.py", "run_meta.py", "runtime.py"]
# Calls whose text a learner reads: their string arguments must be marked messages (a question's
# or an exercise's keyword arguments too, except the code a learner copies and the names of its
# variables; `error` is argparse's `parser.error`).
SHOWN = {"Wrong", "NotAttempted", "Result", "DataError", "print", "warn", "Choice", "Number",
         "Exercise", "CheckpointError", "PretrainedError", "NonFiniteLossError", "error"}
NOT_SHOWN = {"solution", "variable", "answer"}
QUIZ_FILES = {f"course_utils/exercises/quiz{n}.py" for n in range(1, 9)}


@pytest.fixture
def zh(monkeypatch):
    monkeypatch.setenv(i18n.LANG_ENV, "zh")


def _broken_folder(tmp_path: Path) -> Path:
    from PIL import Image

    for name in ("robin", "sparrow"):
        (tmp_path / name).mkdir()
        Image.new("RGB", (8, 8), "white").save(tmp_path / name / "a.png")
    (tmp_path / "robin" / "broken.jpg").write_bytes(b"not a jpeg")
    return tmp_path


def test_english_by_default(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv(i18n.LANG_ENV, raising=False)
    assert i18n.language() == "en"
    assert repr(ch1.q2.check(21)).startswith("Correct: ceil(1000 / 48) = 21")
    assert repr(ch1.q2.check(None)).startswith("Not attempted yet: ")
    assert repr(quiz1.q1.check("A")).startswith("Incorrect: A is not right: ")
    with pytest.raises(DataError, match=r"^data folder '.*nope' \(from the argument\) is no such "
                                        "folder; expected a folder with one sub-folder per class"):
        resolve_data_dir(tmp_path / "nope")
    with pytest.raises(DataError, match=r"1 image\(s\) in .* cannot be read:\n.*broken.jpg.*\n"
                                        r"Delete or replace them, then run the cell again\.$"):
        ImageFolderDataset(_broken_folder(tmp_path))
    ch1.q2.hint()
    quiz1.q1.solution()
    shown = capsys.readouterr().out
    assert "Hint 1/" in shown and "Solution:\n" in shown and "Why: " in shown


def test_chinese_with_course_lang_zh(zh, tmp_path, monkeypatch, capsys):
    assert i18n.language() == "zh"
    right, empty, wrong = ch1.q2.check(21), ch1.q2.check(None), quiz1.q1.check("A")
    assert repr(right) == "正确：ceil(1000 / 48) = 21 个批次；最后一个有 40 张图像。"
    assert right and not wrong and not empty  # the verdict's truth does not depend on the language
    assert repr(empty).startswith("尚未作答：") and "请填入你的答案" in repr(empty)
    assert repr(wrong).startswith("不正确：A 不对：")
    assert repr(quiz1.q1.check(3)).startswith("不正确：这道题要用字母作答，而不是数字：")
    assert '<span style="color:#1a7f37">正确：' in right._repr_html_()
    with pytest.raises(DataError) as caught:
        resolve_data_dir(tmp_path / "nope")
    example = tmp_path / "nope" / "class_a" / "img1.jpg"
    assert str(caught.value) == (
        f"数据文件夹 {str(tmp_path / 'nope')!r}（来自传入的参数）不存在；"
        f"需要的是每个类别各占一个子文件夹的文件夹，例如 {example}")
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "nope"))
    with pytest.raises(DataError, match=r"（来自 \$COURSE_DATA）不存在"):
        resolve_data_dir()
    with pytest.raises(DataError, match=r"中有 1 张图像无法读取：\n.*broken.jpg.*\n请删除或替换"):
        ImageFolderDataset(_broken_folder(tmp_path))
    ch1.q2.hint()
    ch1.q2.hint(99)
    quiz1.q1.solution()
    shown = capsys.readouterr().out
    assert "提示 1/" in shown and "条提示：hint(1)" in shown and "参考答案：\n" in shown
    assert "原因：" in shown


class _AddsAfterTheLastReLU(RefBasic):
    """A learner's basic block with a typical mistake (the module is this test's, not the
    package's, so the check does not refuse it as a library block)."""

    def __init__(self, inplanes, planes, stride=1):
        super().__init__(inplanes, planes, stride, mistake="relu_before_add")


def test_the_exercises_checks_speak_the_learners_language(monkeypatch, capsys):
    """A chapter's verdicts, the names of what was expected, the exercise's name and its hints
    go through the catalogue: English by default, Chinese under COURSE_LANG=zh."""
    monkeypatch.delenv(i18n.LANG_ENV, raising=False)
    english = [repr(ch1.q2.check(20)), repr(ch1.q2.check("21")), repr(ch1.q2.check(None)),
               repr(ch2.q2.check(_AddsAfterTheLastReLU))]
    ch2.q2.hint()
    assert english == [
        "Incorrect: you rounded down: the last batch holds the remaining 40 images, and the "
        "DataLoader keeps it (unless drop_last=True).",
        "Incorrect: batches per epoch: you gave the text '21', not a number: remove the quotes.",
        "Not attempted yet: Chapter 1, question 2 (batches per epoch): fill in your answer, then "
        "run this cell again.",
        "Incorrect: your block adds the shortcut after the final ReLU: add the shortcut to the BN "
        "output first, then apply ReLU to the sum."]
    hint = capsys.readouterr().out.splitlines()[-1]
    assert hint.startswith("Hint 1/3: Two 3x3 convs, each followed by a BN")
    monkeypatch.setenv(i18n.LANG_ENV, "zh")
    chinese = [repr(ch1.q2.check(20)), repr(ch1.q2.check("21")), repr(ch1.q2.check(None)),
               repr(ch2.q2.check(_AddsAfterTheLastReLU))]
    ch2.q2.hint()
    assert chinese == [
        "不正确：你向下取整了：最后一个批次装着剩下的 40 张图像，DataLoader 会保留它（除非 "
        "drop_last=True）。",
        "不正确：每个 epoch 的批次数：你给的是文本 '21'，而不是数：请去掉引号。",
        "尚未作答：第 1 章，第 2 题（每个 epoch 的批次数）：请填入你的答案，然后重新运行这个"
        "单元格。",
        "不正确：你的块在最后的 ReLU 之后才加上捷径：应先把捷径加到 BN 的输出上，再对和应用 ReLU。"]
    hint = capsys.readouterr().out.splitlines()[-1]
    assert hint.startswith("提示 1/3：两个 3x3 卷积，每个后面接一个 BN；")


@functools.cache
def _renderer() -> translation.Renderer:
    return translation.renderer()


EXERCISES = [(f"ch{c}.{q}", ex) for c, chapter in CHAPTERS.items()
             for q, ex in exercises(chapter).items()]


@pytest.mark.parametrize(("name", "ex"), EXERCISES, ids=[n for n, _ in EXERCISES])
def test_the_stored_verdict_of_each_exercise_renders_as_the_chinese_kernel_shows_it(name, ex):
    """The notebooks store each exercise's verdict on its solution in English; `make zh`
    rewrites it with `Renderer`, and nbval then compares it with what the Chinese kernel shows.
    Both must agree, in Chinese, for every exercise of every chapter."""
    from test_exercises import solution_answer, verdict

    answer = solution_answer(ex)
    with i18n.using("en"):
        english = repr(verdict(ex, answer)[0])
    with i18n.using("zh"):
        kernel = repr(verdict(ex, answer)[0])
    assert english.startswith("Correct: ") and kernel.startswith("正确：")
    render = _renderer()
    assert render.message(english, render.verdicts) == kernel
    assert kernel[3:] != english[9:], f"{name}: its message is not translated"


# --- phase 2: the errors a learner meets outside the exercises -----------------------------------
# Each case: what raises, the English message (unchanged by the catalogue) and the Chinese one.

def _photo(path: Path, size=(8, 8)) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, "white").save(path)
    return path


def _loose_images(tmp_path):
    from course_utils.data.scan import scan

    _photo(tmp_path / "loose" / "a.png")
    scan(tmp_path / "loose")


def _unreadable_image(tmp_path):
    from course_utils.data.images import load_rgb

    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    load_rgb(tmp_path / "broken.jpg")


def _too_many_pixels(tmp_path):
    from PIL import Image

    from course_utils.data.images import load_rgb

    before, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, 50
    try:
        load_rgb(_photo(tmp_path / "big.png"))  # 64 pixels: above the limit, below twice it
    finally:
        Image.MAX_IMAGE_PIXELS = before


def _a_loop(tmp_path):
    import os
    import warnings

    _photo(tmp_path / "loop" / "cat" / "a.png")
    _photo(tmp_path / "loop" / "dog" / "a.png")
    if not (tmp_path / "loop" / "cat" / "up").is_symlink():
        os.symlink("..", tmp_path / "loop" / "cat" / "up")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the warning, raised, carries the message
        ImageFolderDataset(tmp_path / "loop")


def _too_few_images(tmp_path):
    from course_utils.data.splits import stratified_split

    stratified_split([0, 1, 1, 1, 1, 1])


def _unknown_cache_mode(tmp_path):
    from course_utils.data.decoded import cache_mode

    cache_mode("sometimes")


def _ctrl_c(tmp_path):
    from course_utils.training.fitting import _interrupted
    from course_utils.training.history import History

    best = {"epoch": 1, "val_acc": 0.125}
    return _interrupted(History([best]), 1, 3, best, tmp_path / "best.pth")


def _tiny_checkpoint(tmp_path) -> Path:
    from torch import nn

    from course_utils.training.checkpoints import save_checkpoint

    return save_checkpoint(tmp_path / "tiny.pth", nn.Linear(4, 2), arch="tiny",
                           class_names=["cat", "dog"], image_size=8, mean=[0.5], std=[0.5])


def _one_class_more(tmp_path):
    from torch import nn

    from course_utils.training.checkpoints import load_into

    load_into(nn.Linear(4, 3), _tiny_checkpoint(tmp_path))


def _resume_another_network(tmp_path):
    from course_utils.training.resume import check_resumable

    state = {"path": "runs/last.pth", "arch": "resnet18", "class_names": ["cat", "dog"],
             "image_size": 40}
    check_resumable(state, "resnet50", ["cat", "dog"], 40, None)


def _imagenet_not_here(tmp_path):
    import os

    from course_utils.models.architectures import build_model
    from course_utils.models.pretrained import open_pretrained

    before = os.environ.get("TORCH_HOME")
    os.environ["TORCH_HOME"] = str(tmp_path / "torch")  # an empty cache: the file is not here
    try:
        open_pretrained("imagenet", build_model("resnet18", 2))
    finally:
        if before is None:
            del os.environ["TORCH_HOME"]
        else:
            os.environ["TORCH_HOME"] = before


def _keras_names(tmp_path):
    from torch import nn

    from course_utils.models.weight_files import check_match

    model = nn.Sequential()
    model.add_module("conv1", nn.Conv2d(3, 4, 3))
    saved = {f"conv2_block1_{i}/kernel:0": __import__("torch").zeros(1) for i in range(4)}
    check_match(saved, model.state_dict(), tmp_path / "keras.pth", "ResNet-18")


def _a_web_address(tmp_path):
    from course_utils.evaluation.predict import prepare_image

    prepare_image("https://example.org/bird.jpg", (["a", "b"], 32, [0.5] * 3, [0.5] * 3))


def _course_fast_perhaps(tmp_path):
    import os

    from course_utils.runtime import fast_mode

    before = os.environ.get("COURSE_FAST")
    os.environ["COURSE_FAST"] = "perhaps"
    try:
        fast_mode()
    finally:
        if before is None:
            del os.environ["COURSE_FAST"]
        else:
            os.environ["COURSE_FAST"] = before


ERRORS = {
    "scan: no class folders, images loose (a plural)": (
        _loose_images,
        r"^data folder '.*loose' has no class sub-folders; expected .*<class name>.<image>\.jpg\. "
        r"It holds 1 image\(s\) directly \(e\.g\. 'a\.png'\): move them into one sub-folder per "
        r"class\.$",
        r"^数据文件夹 '.*loose' 中没有类别子文件夹；需要的是 .*<class name>.<image>\.jpg。"
        r"它直接存放了 1 张图像（例如 'a\.png'）：请把它们按类别移到各自的子文件夹中。$"),
    "images: a file that is no image": (
        _unreadable_image,
        r"^cannot read image '.*broken\.jpg': .+\. Delete or replace the file, then run the cell "
        r"again\.$",
        r"^无法读取图像 '.*broken\.jpg'：.+。请删除或替换这个文件，然后重新运行这个单元格。$"),
    "images: above PIL's pixel limit (a translated field)": (
        _too_many_pixels,
        r"^image '.*big\.png' is too large \(8x8 = 64 pixels\): more than PIL's limit of 50 pixels",
        r"^图像 '.*big\.png' 太大（8x8 = 64 像素）：超过了 PIL 的上限 50 像素（PIL\.Image\."),
    "scan: a symbolic link loop (a warning, its reason translated)": (
        _a_loop,
        r"^the symbolic link '.*up' -> '\.\.' was not followed: it leads back up to a folder that "
        r"holds this class folder \(a loop\)$",
        r"^没有跟随符号链接 '.*up' -> '\.\.'：它指回了包含这个类别文件夹的上级文件夹（形成循环）$"),
    "splits: too few images (rows and a reason inside)": (
        _too_few_images,
        r"^too few images to train and evaluate: 1 class\(es\) would be missing from a split:\n"
        r"  class 0: train 1, val 0, test 0\nevery class needs at least 3 images \(one per part\); "
        r"a few dozen per class",
        r"^图像太少，无法训练和评估：有 1 个类别会在某个划分中缺失：\n"
        r"  类别 0: train 1, val 0, test 0\n"
        r"每个类别至少需要 3 张图像（每个部分一张）；每个类别至少要有几十张图像"),
    "fitting: the Ctrl-C line (two translated clauses inside)": (
        _ctrl_c,
        r"^Interrupted after epoch 1 of 3: returning the history of the 1 finished epoch; the best "
        r"checkpoint \(epoch 1, val acc 12\.5%\) is intact at .*best\.pth\.$",
        r"^在第 1/3 个 epoch 之后被中断：返回已完成的 1 个 epoch 的训练历史；"
        r"最好的检查点（epoch 1，验证准确率 12\.5%）完好地保存在 .*best\.pth。$"),
    "checkpoints: weights for another number of classes (chapter 5's example)": (
        _one_class_more,
        r"^checkpoint .*tiny\.pth was trained for 2 classes \(\['cat', 'dog'\]\) but the model has "
        r"3 outputs \(weight is \[3, 4\]\); build the model with num_classes=2, or train a new "
        r"checkpoint for your classes$",
        r"^检查点 .*tiny\.pth 是为 2 个类别（\['cat', 'dog'\]）训练的，但模型有 3 个输出"
        r"（weight 的形状是 \[3, 4\]）；请用 num_classes=2 构建模型"),
    "resume: last.pth of another network": (
        _resume_another_network,
        r"^--resume: runs/last\.pth trained a resnet18 at 40 px on the classes \['cat', 'dog'\], "
        r"but this run asks for a resnet50 at 40 px on \['cat', 'dog'\]; pass the same --arch",
        r"^--resume：runs/last\.pth 在类别 \['cat', 'dog'\] 上以 40 px 训练了一个 resnet18，"
        r"但这次运行要求在 \['cat', 'dog'\] 上以 40 px 训练一个 resnet50；要继续它，"
        r"请传入相同的 --arch"),
    "pretrained: ImageNet's file is not on this machine (chapter 8's example)": (
        _imagenet_not_here,
        r"^ImageNet weights for a ResNet-18 are not on this machine, and nothing is downloaded "
        r"unless you ask\. Expected resnet18-\w+\.pth \(torchvision's IMAGENET1K_V1\) in the "
        r"folder '.*torch/hub/checkpoints'\. Either put the file there .* or pass "
        r"--download-weights ",
        r"^这台机器上没有 ResNet-18 的 ImageNet 预训练权重，而且除非你要求，否则不会下载任何东西。"
        r"需要的是文件夹 '.*torch/hub/checkpoints' 中的 resnet18-\w+\.pth（torchvision 的 "
        r"IMAGENET1K_V1）。.*或者传入 --download-weights"),
    "weight files: another library's names (a translated constant inside)": (
        _keras_names,
        r"^'.*keras\.pth' does not use torchvision's ResNet names: 4 of its 4 keys are not in your "
        r"ResNet-18 .* They look like TensorFlow/Keras variable names\. Rename them",
        r"^'.*keras\.pth' 没有使用 torchvision 的 ResNet 命名：它的 4 个键中有 4 个"
        r"不在你的 ResNet-18 里.*它们看起来像是 TensorFlow/Keras 的变量名。"
        r"请先把它们改成 torchvision 的命名"),
    "predict: a web address instead of a file": (
        _a_web_address,
        r"^'https://example\.org/bird\.jpg' is a web address; predict reads a local file or a PIL "
        r"image\. Download it first",
        r"^'https://example\.org/bird\.jpg' 是一个网址；predict 只读取本地文件或 PIL 图像。"
        r"请先把它下载下来"),
    "runtime: COURSE_FAST it does not understand": (
        _course_fast_perhaps,
        r"^COURSE_FAST='perhaps' is not understood; use 1 \(fast\) or 0 \(real configuration\)$",
        r"^无法理解 COURSE_FAST='perhaps'；请使用 1（快速模式）或 0（真实配置）$"),
    "decoded: a setting it does not understand": (
        _unknown_cache_mode,
        r"^decode_cache='sometimes' is not understood; use auto \(the default",
        r"^无法理解 decode_cache='sometimes'；请使用 auto（默认"),
}


def _shown(trigger, tmp_path) -> tuple[type | None, str]:
    """What a case shows the learner: the error it raises, or the line it returns."""
    try:
        line = trigger(tmp_path)
    except Exception as error:
        return type(error), str(error)
    return None, line


@pytest.mark.parametrize("case", list(ERRORS))
def test_errors_outside_the_exercises_follow_course_lang(case, monkeypatch, tmp_path):
    trigger, english, chinese = ERRORS[case]
    monkeypatch.delenv(i18n.LANG_ENV, raising=False)
    kind, shown = _shown(trigger, tmp_path)
    assert re.search(english, shown), shown
    monkeypatch.setenv(i18n.LANG_ENV, "zh")
    translated_kind, translated = _shown(trigger, tmp_path)
    assert translated_kind is kind and re.search(chinese, translated), translated


@pytest.mark.parametrize(("value", "code"), [
    ("zh", "zh"), ("zh_CN.UTF-8", "zh"), ("zh-Hans", "zh"), ("ZH", "zh"), ("", "en"),
    (" en_GB ", "en")])
def test_the_language_code_of_course_lang(monkeypatch, value, code):
    monkeypatch.setenv(i18n.LANG_ENV, value)
    assert i18n.language() == code


def test_a_language_without_a_catalogue_falls_back_to_english(monkeypatch):
    monkeypatch.setenv(i18n.LANG_ENV, "fr")
    i18n.translations.cache_clear()
    try:
        with pytest.warns(UserWarning, match=r"COURSE_LANG='fr': there is no catalogue .* "
                                             "available: en, zh"):
            verdict = ch1.q2.check(21)
        assert repr(verdict).startswith("Correct: ceil(1000 / 48)")
    finally:
        i18n.translations.cache_clear()


def test_a_message_the_catalogue_does_not_translate_stays_english(tmp_path):
    po = polib.POFile()
    po.metadata = {"Content-Type": "text/plain; charset=UTF-8",
                   "Plural-Forms": "nplurals=1; plural=0;"}
    po.append(polib.POEntry(msgid="well done.", msgstr="做得好。"))
    po.append(polib.POEntry(msgid="Correct: {message}", msgstr=""))  # not translated yet
    po.append(polib.POEntry(msgid="Why: {explanation}", msgstr="原因：{explanation}",
                            flags=["fuzzy"]))  # not checked since the English changed
    path = i18n.catalogue_path("xx", tmp_path)
    path.parent.mkdir(parents=True)
    po.save(str(path))
    found = i18n.translations("xx", tmp_path)
    assert found.gettext("well done.") == "做得好。"
    assert found.gettext("Correct: {message}") == "Correct: {message}"
    assert found.gettext("Why: {explanation}") == "Why: {explanation}"
    assert found.gettext("a message nobody marked") == "a message nobody marked"


def test_using_restores_the_setting(monkeypatch):
    monkeypatch.setenv(i18n.LANG_ENV, "zh")
    with i18n.using("en"):
        assert repr(ch1.q2.check(21)).startswith("Correct:")
    assert i18n.language() == "zh"
    monkeypatch.delenv(i18n.LANG_ENV)
    with i18n.using("zh"):
        assert repr(ch1.q2.check(21)).startswith("正确：")
    assert i18n.LANG_ENV not in __import__("os").environ


# --- the catalogue and the code ------------------------------------------------------------------

def test_the_catalogue_is_in_step_with_the_code():
    found, bad = messages.marked()
    assert not bad, "\n".join(bad)
    assert {"Correct: {message}", "well done.", "Delete or replace them, then run the cell again.",
            "{letter} is not right: {why}"} <= set(found)  # the extraction sees all three modules
    problems = messages.problems(messages.load("zh"), found)
    assert not problems, "\n".join(problems)


def test_every_chinese_message_is_translated():
    po = messages.load("zh")
    assert not [e.msgid for e in po if not e.obsolete and not messages.translated(e)]


def test_the_catalogue_check_names_the_msgid(tmp_path):
    found, _ = messages.marked()
    po = messages.load("zh")
    gone = next(e for e in po if e.msgid == "well done.")
    po.remove(gone)
    po.append(polib.POEntry(msgid="an old message", msgstr="旧消息"))
    entry = next(e for e in po if e.msgid == "{letter} is not right: {why}")
    entry.msgstr = "{letter} 不对：{reason}"
    next(e for e in po if e.msgid == "Why: {explanation}").flags.append("fuzzy")
    problems = messages.problems(po, found)
    assert problems[0].startswith("no catalogue entry for 'well done.' "
                                  "(course_utils/exercises/core.py:")
    assert "the catalogue has 'an old message', which the code no longer marks" in problems
    assert ("'{letter} is not right: {why}': the translation's fields ['letter', 'reason'] differ "
            "from the message's ['letter', 'why']") in problems
    assert any(p.startswith("'Why: {explanation}': the translation is marked fuzzy")
               for p in problems)
    assert len(problems) == 4
    # update() adds the missing entry (empty) and keeps the unused translation as obsolete
    messages.update(po, found)
    assert next(e for e in po if e.msgid == "well done.").msgstr == ""
    assert next(e for e in po if e.msgid == "an old message").obsolete


def test_the_extraction_refuses_what_it_cannot_translate(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "m.py").write_text(textwrap.dedent('''\
        from .i18n import _, ngettext

        def ok(path, n):
            print(_("no such file: {path!r}").format(path=path))
            print(ngettext("{n} file", "{n} files", n).format(n=n))

        def formatted_too_early(path):
            print(_(f"no such file: {path!r}"))

        def hidden(samples):
            for path, _ in samples:
                print(_("cannot read {path}").format(path=path))
        '''), encoding="utf-8")
    found, bad = messages.marked(package)
    assert set(found) == {"no such file: {path!r}", "{n} file", "cannot read {path}"}
    assert found["{n} file"].plural == "{n} files"
    assert len(bad) == 2
    assert bad[0].startswith("pkg/m.py:8: _() needs string literals")
    assert bad[1].startswith("pkg/m.py:10: binds `_`, which hides the translation function")


def _unmarked(path: Path) -> list[str]:
    """Text a learner reads that does not go through the catalogue: a string literal with words
    (or an f-string) passed straight to a call in SHOWN (a question's choices and explanations in
    their dicts too), outside a maintainer's `main()`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name == "main"
            for n in ast.walk(f)}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or id(node) in skip:
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        if name not in SHOWN:
            continue
        shown = [*node.args, *(k.value for k in node.keywords if k.arg not in NOT_SHOWN)]
        for arg in shown:
            if any(re.search(r"[A-Za-z]{2,}\W+[A-Za-z]{2,}", t) for t in _texts(arg)):
                found.append(f"{path.name}:{node.lineno}: {ast.unparse(arg)[:70]}")
    return found


def _texts(node: ast.AST) -> list[str]:
    """The literal text in an expression (`a if b else f"..."` too), not inside a call's
    arguments (`_("...")` marks its own; `describe(x)` is not text)."""
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) else []
    if isinstance(node, ast.Call):
        return []
    return [t for child in ast.iter_child_nodes(node) for t in _texts(child)]


@pytest.mark.parametrize("module", CONVERTED)
def test_converted_modules_show_no_text_outside_the_catalogue(module):
    unmarked = _unmarked(PACKAGE / module)
    assert not unmarked, "messages not marked for translation:\n" + "\n".join(unmarked)


def test_the_unmarked_text_check_sees_an_f_string(tmp_path):
    path = PACKAGE / "exercises" / "core.py"
    text = path.read_text(encoding="utf-8").replace(
        'Result(CORRECT, safe_str(message, 1000) if message else _("well done."))',
        'Result(CORRECT, safe_str(message, 1000) if message else f"well done, {self.name}.")')
    assert text != path.read_text(encoding="utf-8")
    (tmp_path / "core.py").write_text(text, encoding="utf-8")
    found = _unmarked(tmp_path / "core.py")
    assert len(found) == 1 and "well done, {self.name}." in found[0]


def test_the_unmarked_text_check_sees_a_questions_text(tmp_path):
    path = PACKAGE / "exercises" / "quiz1.py"
    text = path.read_text(encoding="utf-8")
    for old, new in (('N_("They put every pixel between 0 and 1.")',  # a choice, in its dict
                      '"They put every pixel between 0 and 1."'),
                     ('hint=N_("Section 2, the bullet point on the evaluation transform.")',
                      'hint="Section 2, the bullet point on the evaluation transform."')):
        assert old in text
        text = text.replace(old, new)
    (tmp_path / "quiz1.py").write_text(text, encoding="utf-8")
    found = _unmarked(tmp_path / "quiz1.py")
    assert len(found) == 2 and "They put every pixel" in found[0] and "Section 2" in found[1]


# --- the questionnaires ---------------------------------------------------------------------------

def test_a_questionnaire_speaks_the_learners_language(monkeypatch, capsys):
    """Every text of a question (its name, question, choices, why each wrong choice is wrong, the
    explanation, the hint, a known wrong number) is a message of the catalogue: English without
    COURSE_LANG, as quizN.py writes it, and Chinese under COURSE_LANG=zh."""
    monkeypatch.delenv(i18n.LANG_ENV, raising=False)
    assert repr(quiz2.q4.check("A")) == (
        "Incorrect: A is not right: not only then: the first block of layer1 keeps the size but "
        "goes from 64 to 256 channels, and needs a projection too.")
    assert repr(quiz2.q4.check("D")) == (
        "Correct: D. The addition needs F(x) and x of the same shape; a projection is needed "
        "exactly where they differ.")
    assert repr(quiz2.q5.check(0)) == ("Incorrect: 0 is the identity shortcut's cost; this block "
                                       "changes the shape.")
    assert repr(quiz2.q5.check(None)).startswith(
        "Not attempted yet: Chapter 2 questionnaire, question 5 (what a projection costs): ")
    english = questionnaire.markdown(quiz2)
    assert "**5.** How many parameters does the projection shortcut" in english

    monkeypatch.setenv(i18n.LANG_ENV, "zh")
    assert repr(quiz2.q4.check("A")) == (
        "不正确：A 不对：不只是这时：layer1 的第一个残差块尺寸不变，但通道从 64 变为 256，也需要"
        "投影。")
    assert repr(quiz2.q4.check("D")) == (
        "正确：D. 加法要求 F(x) 和 x 形状相同；恰恰在两者不同的地方才需要投影。")
    assert repr(quiz2.q5.check(0)) == "不正确：0 是恒等捷径的代价；这个残差块改变了形状。"
    assert repr(quiz2.q5.check(None)).startswith("尚未作答：第 2 章问答，第 5 题（投影的代价）：")
    assert repr(quiz2.q5.check(256 * 512 + 2 * 512)).startswith(
        "正确：256 x 512 + 2 x 512 = 132,096：")
    # the text of a choice, pasted in either language, is that choice
    assert repr(quiz4.q3.check("它重置学习率。")).startswith("不正确：B 不对：学习率")
    assert repr(quiz4.q3.check("It resets the learning rate.")).startswith("不正确：B 不对：")
    capsys.readouterr()
    quiz2.q5.hint()
    quiz4.q3.solution()
    assert capsys.readouterr().out == (
        "提示 1/1：第 2 节，“形状改变时”：64 -> 128 的同样算式。\n"
        '参考答案：\nq3 = "A"\n'
        "A. `loss.backward()` 会累加到每个参数的 `.grad` 上；不清零的话，每一步用的都是之前所有"
        "批次梯度的总和。\n"
        "原因：累加是一个功能（用来得到更大的等效批次），普通的训练循环必须每次清零梯度来关掉它。\n")
    chinese = questionnaire.markdown(quiz2)
    assert chinese.startswith("## 问答\n") and "**5.** 从 256 通道变为 512 通道" in chinese
    assert chinese.count("\n- **") == english.count("\n- **")  # every choice, in the same order
    assert quiz2.q5.title() == "第 2 章问答，第 5 题（投影的代价）"  # what verdicts show
    # the object keeps the English, like every exercise's
    assert quiz2.q5.name.startswith("Chapter 2 questionnaire")
    assert quiz2.q5.question.startswith("How many parameters")


def test_the_questionnaires_translations_keep_numbers_and_code():
    """A question's numbers are compared with the notebook's outputs, and its `code` is what the
    learner types: each Chinese text of a questionnaire has exactly the numbers and the `code`
    spans of its English."""
    def kept(text: str) -> tuple[set[str], list[str]]:
        numbers = {n.rstrip(",") for n in re.findall(r"\d[\d,]*(?:\.\d+)?", text)}
        return numbers, sorted(re.findall(r"`[^`]*`", text))

    entries = [e for e in messages.load("zh") if not e.obsolete
               and {f for f, _ in e.occurrences} & QUIZ_FILES]
    assert len(entries) > 600
    differ = [f"{e.msgid!r} -> {e.msgstr!r}" for e in entries if kept(e.msgid) != kept(e.msgstr)]
    assert not differ, "\n".join(differ)


def test_the_checks_translations_keep_numbers_and_code():
    """The same for the exercises' checks and hints: a shape, a count or a `code` span in a
    verdict is what the learner compares with their own output or types."""
    def kept(text: str) -> tuple[set[str], list[str]]:
        numbers = {n.rstrip(",") for n in re.findall(r"\d[\d,]*(?:\.\d+)?", text)}
        return numbers, sorted(re.findall(r"`[^`]*`", text))

    checks = {f"course_utils/exercises/{name}.py" for name in (
        "checks", "blocks", *(f"ch{n}" for n in range(1, 9)))}
    entries = [e for e in messages.load("zh") if not e.obsolete
               and {f for f, _ in e.occurrences} & checks]
    assert len(entries) > 500
    differ = [f"{e.msgid!r} -> {e.msgstr!r}" for e in entries if kept(e.msgid) != kept(e.msgstr)]
    assert not differ, "\n".join(differ)


def test_the_commands_argument_errors_follow_course_lang(monkeypatch, capsys):
    """argparse's own words (usage:, error:, --help) stay English; the course's reason does not."""
    from course_utils.training import command

    def refused(*argv: str) -> str:  # what main() does first: parse, then check the arguments
        parser = command.build_parser()
        with pytest.raises(SystemExit) as stop:
            command._check_args(parser, parser.parse_args(list(argv)))
        assert stop.value.code == 2
        return capsys.readouterr().err

    monkeypatch.delenv(i18n.LANG_ENV, raising=False)
    assert refused("--epochs", "0").endswith("error: --epochs 0: expected at least 1\n")
    assert refused("--freeze-backbone").endswith(
        "error: --freeze-backbone only apply to pretrained weights: add --pretrained PATH (or "
        "--pretrained imagenet)\n")
    monkeypatch.setenv(i18n.LANG_ENV, "zh")
    shown = refused("--epochs", "0")
    assert shown.startswith("usage: python -m course_utils.train")
    assert shown.endswith("error: --epochs 0：至少需要 1\n")
    assert refused("--freeze-backbone").endswith(
        "error: --freeze-backbone 只对预训练权重有效：请加上 --pretrained PATH（或 --pretrained "
        "imagenet）\n")
