"""A WSGI wrapper for bench/load_bench.py: the application named by BENCH_WSGI_APP (the portal's, or the floor's),
with how long it took to build each response and the CPU it used for it, in two response headers that
gunicorn's access log records.

The time runs from the request reaching the application to the response's status and headers being handed back
(Django builds a page whole before that), so it leaves out gunicorn's reading of the request and its writing of
the response to the socket, which waits on the client reading it. The CPU time is the worker process's own (a
sync worker handles one request at a time).
"""

import importlib
import os
import time

APP_TIME_HEADER = "X-Bench-App-Microseconds"
CPU_TIME_HEADER = "X-Bench-CPU-Microseconds"

_wrapped = importlib.import_module(os.environ["BENCH_WSGI_APP"]).application


def application(environ, start_response):
    started, started_cpu = time.perf_counter(), time.process_time()

    def timed_start_response(status, headers, exc_info=None):
        elapsed = round((time.perf_counter() - started) * 1e6)
        cpu = round((time.process_time() - started_cpu) * 1e6)
        return start_response(
            status, [*headers, (APP_TIME_HEADER, str(elapsed)), (CPU_TIME_HEADER, str(cpu))], exc_info
        )

    return _wrapped(environ, timed_start_response)
