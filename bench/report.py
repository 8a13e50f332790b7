"""What every benchmark script's report shares: the machine, the load, percentiles, its section of the doc."""

import argparse
import math
import os
import platform
import re
from pathlib import Path


def machine() -> str:
    with open("/proc/meminfo") as meminfo:
        total_kb = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
    with open("/proc/cpuinfo") as cpuinfo:
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?")
    return f"{os.cpu_count()} CPUs (nproc), {total_kb / 2**20:.1f} GiB RAM, {cpu}, {platform.platform()}"


def load_average(values: tuple[float, ...] | None = None) -> str:
    """The 1/5/15-minute load average, now or as read earlier: the figures only mean something beside it."""
    return " / ".join(f"{value:.2f}" for value in (values or os.getloadavg()))


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with at least `fraction` of the values at or below it; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def section_markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def write_section(path: Path, name: str, section: str) -> None:
    """Replace the benchmark's own marked section of the file (or add it at the end), leaving the rest as it was:
    several scripts write their results into the same file."""
    start, end = section_markers(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text() if path.exists() else "# Performance\n"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    path.write_text(text.rstrip() + "\n")
