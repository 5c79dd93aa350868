"""The lines `python -m benchmarks.readme` writes into a notebook's markdown (the opening box's
markers and its run time), for the Chinese edition: they are not paragraphs to translate, so a new
measurement leaves every translation current, and the run time is put into Chinese phrase by
phrase (`instructor/translation.py` uses both)."""

from __future__ import annotations

import re

GENERATED = re.compile(r"<!-- (BEGIN|END) generated: .*-->|> - \*\*Run time:\*\* .*")
RUN_TIME = re.compile(
    r"> - \*\*Run time:\*\* (?P<real>.+?) for the real configuration "
    r"\(stored run: (?P<where>.+?)\); "
    r"(?:(?P<fast>\d[^;]*?) in fast mode \(`COURSE_FAST=1`; (?P<fast_where>.+)\)"
    r"|fast mode \(`COURSE_FAST=1`\) not measured yet \(.*\))\.")
WHERE_ZH = [  # (English, Chinese) in the places a run time names
    (r"; measured under load: other programs kept ([\d.]+) of its (\d+) cores busy",
     r"；在负载下测量：其他程序占用了 \2 个核心中的 \1 个"),
    (r"; how busy the machine was is not known", "；机器当时的负载未知"),
    (r"\b(\d+) threads?\b", r"\1 个线程"),
    (r", ", "，"),
]


def _where(text: str) -> str:
    for english, chinese in WHERE_ZH:
        text = re.sub(english, chinese, text)
    return text


def chinese_run_time(line: str) -> str:
    """The opening box's generated run-time line in Chinese (any other line unchanged)."""
    found = RUN_TIME.fullmatch(line)
    if not found:
        return line
    real = f"> - **运行时间：** 真实配置 {found['real']}（存储的运行：{_where(found['where'])}）；"
    if found["fast"] is None:
        return real + ("快速模式（`COURSE_FAST=1`）尚未测量"
                       "（用 `python -m benchmarks.fast_times` 测量）。")
    return real + f"快速模式（`COURSE_FAST=1`）{found['fast']}（{_where(found['fast_where'])}）。"
