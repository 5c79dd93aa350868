"""How long each notebook takes in fast mode, measured: notebooks/fast_times.json.

    python -m benchmarks.fast_times                      every notebook, in order
    python -m benchmarks.fast_times 04_training.ipynb    only these (the others' entries are kept)

Each notebook runs top to bottom in a fresh kernel with `COURSE_FAST=1`, with nbclient, as nbval
runs it; nothing is written to the notebook (chapter 5 reads the checkpoint chapter 4's fast run
leaves in `runs/ch4-fast/`, so run them in order). The time is counted as for the stored real run
(`benchmarks.readme.run_seconds`): first code cell started to last one finished, from the
timestamps nbclient records, kernel start-up not included. With it go where it ran (the device
banner the notebook printed), the date, and how busy the machine was with other programs
meanwhile: the CPU time the whole machine used, less the time this command and its kernel used,
per second of the run. `python -m benchmarks.readme` puts the result in each chapter's opening box,
labelled "measured under load" when other programs kept more than a quarter of a core busy.
Measure on a quiet machine for numbers worth quoting; a busy one is said to be busy, not hidden.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from benchmarks import readme

REPO = readme.REPO


def machine_busy_seconds() -> float | None:
    """CPU seconds the whole machine has been busy since boot (all cores), or None if unknown."""
    try:
        import psutil
    except ImportError:
        return None
    times = psutil.cpu_times()
    idle = times.idle + getattr(times, "iowait", 0.0)
    return sum(times) - idle


def own_seconds() -> float | None:
    """CPU seconds used by this process and its finished children (the kernel, once shut down,
    and the processes it started and waited for), or None where `resource` does not exist."""
    try:
        import resource
    except ImportError:
        return None
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def other_cores(busy: tuple[float | None, float | None], own: tuple[float | None, float | None],
                wall: float) -> float | None:
    """How many cores other programs kept busy on average during `wall` seconds, from the
    machine's and our own CPU time before and after (None where either is unknown)."""
    if None in busy or None in own or wall <= 0:
        return None
    return round(max(0.0, ((busy[1] - busy[0]) - (own[1] - own[0])) / wall), 2)


def measure(name: str, root: Path = REPO, timeout: int = 1800) -> dict:
    """Run notebooks/`name` in fast mode and return its entry for fast_times.json."""
    import nbformat
    from nbclient import NotebookClient

    path = root / "notebooks" / name
    nb = nbformat.read(path, as_version=4)
    os.environ["COURSE_FAST"] = "1"  # the kernel inherits this process's environment
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=True,
                            resources={"metadata": {"path": str(path.parent)}})
    busy, own, start = [machine_busy_seconds()], [own_seconds()], time.perf_counter()
    client.execute()  # starts the kernel, runs every cell, shuts the kernel down (and reaps it)
    wall = time.perf_counter() - start
    busy.append(machine_busy_seconds())
    own.append(own_seconds())
    seconds, date = readme.seconds_of(nb, name)
    return {"seconds": round(seconds, 1), "date": date, "machine": readme.machine_of(nb, name),
            "cores": os.cpu_count(), "other_cores": other_cores(tuple(busy), tuple(own), wall)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebook file names (default: all, in order)")
    args = parser.parse_args(argv)
    names = args.notebooks or readme.notebooks()
    unknown = [n for n in names if n not in readme.notebooks()]
    if unknown:
        parser.error(f"no such notebook in notebooks/: {', '.join(unknown)}")
    times = readme.fast_times()
    for name in names:
        print(f"{name}: running in fast mode ...", flush=True)
        times[name] = measure(name)
        print(f"{name}: {times[name]}", flush=True)
        path = REPO / readme.FAST_TIMES  # written after every notebook: a failure keeps the rest
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(dict(sorted(times.items())), indent=1) + "\n", encoding="utf-8")
        tmp.replace(path)
    print(f"wrote {readme.FAST_TIMES}; `python -m benchmarks.readme` puts it in the opening boxes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
