"""Time the outcomes report's figures (outcomes.report.outcomes_report) on a seeded database. Not a test.

    DATABASE_URL=postgres://.../pit_bench .venv/bin/python bench/outcomes_report.py [--runs 7] [--period 1y 2y]

For each period, ending today: the courses started in it, the queries, and per run the wall time, this process's
CPU time and the database's (the queries' waits for their answers, added up): p50, min and max over the runs. The
page adds its signed-in request's own queries and the template; bench/load_bench.py times the whole page.
"""

import argparse
import os
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PERIODS = {"1y": 365, "2y": 731, "5y": 5 * 365, "all": None}


def _ms(values: list[float]) -> str:
    p50, low, high = (round(value * 1000) for value in (statistics.median(values), min(values), max(values)))
    return f"p50 {p50} / min {low} / max {high} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--period", nargs="+", choices=list(PERIODS), default=["1y", "2y"])
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pit_portal.settings")
    import django

    django.setup()
    from datetime import timedelta

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from outcomes.report import courses_started, outcomes_report

    today = timezone.localdate()
    for name in args.period:
        days = PERIODS[name]
        start = today - timedelta(days=days) if days else date(1900, 1, 1)
        walls, cpus, waits = [], [], []
        for _ in range(args.runs):
            with CaptureQueriesContext(connection) as queries:
                wall, cpu = time.perf_counter(), time.process_time()
                outcomes_report(start, today)
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
            waits.append(sum(float(query["time"]) for query in queries.captured_queries))
        print(
            f"{name} ({start} to {today}): {courses_started(start, today).count():,} courses, {len(queries)} queries;"
            f" wall {_ms(walls)}; CPU {_ms(cpus)}; database {_ms(waits)}; load {os.getloadavg()[0]:.1f}"
        )


if __name__ == "__main__":
    main()
