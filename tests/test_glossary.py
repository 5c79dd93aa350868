"""The glossary (docs/glossary.md) holds: every Chinese text of the course (the message catalogue,
the chapters' translation files, README.zh.md and the generated Chinese sentences of its results)
uses the fixed translations and never a variant the glossary rules out; where a row says 检查 是,
a translation whose English uses the term uses the fixed Chinese term."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import polib
import pytest

from benchmarks import readme
from course_utils.i18n import catalogue_path

REPO = Path(__file__).resolve().parent.parent
GLOSSARY = REPO / "docs" / "glossary.md"
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)


@dataclass(frozen=True)
class Term:
    english: str
    chinese: str
    wrong: tuple[str, ...]
    enforced: bool

    def in_english(self, text: str) -> bool:
        """Does `text` (code blanked out) use the English term (a plural too)?"""
        pattern = rf"(?<![\w-]){re.escape(self.english)}(?:e?s)?(?![\w-])"
        return re.search(pattern, CODE.sub(" ", text), re.I) is not None


def terms(text: str | None = None) -> list[Term]:
    text = GLOSSARY.read_text(encoding="utf-8") if text is None else text
    section = text.split("## 术语", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]
    found = []
    for row in rows:
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        assert len(cells) == 5, f"a glossary row needs 5 columns: {row}"
        english, chinese, wrong, check, _ = cells
        assert english and chinese and check in ("是", "否"), row
        found.append(Term(english, chinese, tuple(w for w in wrong.split("、") if w),
                          check == "是"))
    return found


@dataclass(frozen=True)
class Chinese:
    where: str
    english: str  # what it translates ("" for a page)
    text: str


def chinese_texts() -> list[Chinese]:
    found = []
    po_files = [catalogue_path("zh"), *sorted((REPO / "notebooks/zh/translations").glob("*.po"))]
    for path in po_files:
        for entry in polib.pofile(str(path)):
            texts = [entry.msgstr, *entry.msgstr_plural.values()]
            for text in filter(None, texts):
                where = f"{path.relative_to(REPO)} {entry.msgctxt or entry.msgid[:40]!r}"
                found.append(Chinese(where, entry.msgid, text))
    found.append(Chinese("README.zh.md", "", (REPO / "README.zh.md").read_text(encoding="utf-8")))
    found += [Chinese(f"benchmarks/readme.py TEXT['zh'][{key!r}]", readme.TEXT["en"][key], text)
              for key, text in readme.TEXT["zh"].items()]
    return found


def wrong_variants(found: list[Chinese], table: list[Term]) -> list[str]:
    return [f"{c.where}: {w!r}: the glossary says {t.chinese} ({t.english})"
            for c in found for t in table for w in t.wrong if w in CODE.sub(" ", c.text)]


def missing_terms(found: list[Chinese], table: list[Term]) -> list[str]:
    return [f"{c.where}: the English says {t.english!r}, the translation lacks {t.chinese}"
            for c in found for t in table
            if t.enforced and c.english and t.in_english(c.english) and t.chinese not in c.text]


def test_the_glossary_has_the_course_terms():
    table = terms()
    chinese = {t.chinese for t in table}
    assert {"残差块", "瓶颈块", "恒等映射", "投影捷径", "批归一化", "学习率", "验证集", "测试集",
            "迁移学习", "微调", "卷积层", "全连接层", "数据增强", "过拟合", "梯度消失", "特征提取",
            "冻结", "主干网络", "分类头", "混淆矩阵", "精确率", "召回率", "检查点",
            "标签平滑"} <= chinese
    assert len({t.english for t in table}) == len(table), "an English term listed twice"
    # a ruled-out variant inside a fixed term would flag every correct use of that term
    clashes = [(w, c) for t in table for w in t.wrong for c in chinese if w in c]
    assert not clashes, clashes


def test_no_chinese_text_uses_a_ruled_out_variant():
    problems = wrong_variants(chinese_texts(), terms())
    assert not problems, "\n".join(problems)


def test_translations_use_the_fixed_terms():
    found = chinese_texts()
    assert any(c.where.startswith("course_utils/locale") for c in found)
    problems = missing_terms(found, terms())
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("english", "chinese", "wrong", "missing"), [
    ("Batch normalization re-centres each channel.", "批归一化把每个通道重新居中。", 0, 0),
    ("Batch normalization re-centres each channel.", "批量归一化把每个通道重新居中。", 1, 1),
    ("Each stage starts with a projection shortcut.", "每个阶段从一个投影捷径开始。", 0, 0),
    ("Each stage starts with a projection shortcut.", "每个阶段从一个映射捷径开始。", 1, 1),
    ("The backbone is frozen.", "骨干网络被冻结。", 1, 1),
    ("Call `model.eval()`: the `checkpoint` is read.", "调用 `model.eval()`。", 0, 0),  # code only
    ("The learning rates of the ladder.", "阶梯的学习速率。", 1, 1),  # a plural, a variant
])
def test_the_checks_catch_a_wrong_or_missing_term(english, chinese, wrong, missing):
    text = [Chinese("x.po 'c1:1'", english, chinese)]
    assert len(wrong_variants(text, terms())) == wrong
    assert len(missing_terms(text, terms())) == missing
