"""Profile one of the load benchmark's key pages in-process with pyinstrument. Not a test.

    DATABASE_URL=postgres://.../pit_bench .venv/bin/python bench/profile_page.py "day calendar"
    DATABASE_URL=... .venv/bin/python bench/profile_page.py "session save" --requests 20 --html var/profile.html

It uses a database bench/load_bench.py has seeded (the same signed-in bench users and pages), warms the page
up, then times --requests requests of it (CPU time, without the profiler) and profiles as many more. The
report shows where a request's time goes, by call tree: queries and their row decoding, template rendering,
the view's own Python.
"""

import argparse
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WARM_UP = 3


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", help="a key page's name, as in the benchmark's table (\"patient page\")")
    parser.add_argument("--requests", type=int, default=10, help="requests timed, and as many profiled")
    parser.add_argument("--html", type=Path, help="also write pyinstrument's interactive HTML report here")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if not os.environ.get("DATABASE_URL"):
        sys.exit("Set DATABASE_URL to a database bench/load_bench.py has seeded.")
    # As the benchmark's server runs: no debug, plain HTTP on loopback; static files by their plain names.
    for name, value in {"DJANGO_SETTINGS_MODULE": "pit_portal.settings", "SECRET_KEY": "profile-only",
                        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver", "DEBUG": "0", "SECURE": "0",
                        "STATIC_MANIFEST": "0"}.items():  # fmt: skip
        os.environ.setdefault(name, value)
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.messages.storage.cookie import CookieStorage
    from django.test import Client
    from pyinstrument import Profiler

    from bench import load_bench as bench

    page = next((page for page in bench.PAGES if page.name == args.page), None)
    if page is None:
        sys.exit(f"No page {args.page!r}; choose from: {', '.join(page.name for page in bench.PAGES)}.")
    fixtures = bench.prepare_fixtures(1)
    client = Client(HTTP_HOST="127.0.0.1")
    client.cookies[settings.SESSION_COOKIE_NAME] = fixtures.sessions[page.role][-1]
    state = bench.ClientState(index=0)
    saver = next(page for page in bench.PAGES if page.name == "session save")

    def send(request):
        body = urlencode(request.data or {})
        response = client.generic(request.method, request.path, body, content_type="application/x-www-form-urlencoded")
        if 300 <= response.status_code < 400:  # as the benchmark's clients do (load_bench.Browser)
            client.cookies.pop(CookieStorage.cookie_name, None)
        return response

    def once(n: int) -> float:
        if page.name == "session sign":  # each signature needs a draft of its own
            saved = send(saver.build(n, fixtures, state))
            state.drafts.append(int(saved["Location"].strip("/").split("/")[-1]))
        request = page.build(n, fixtures, state)
        started = time.process_time()
        response = send(request)
        if not page.succeeded(response.status_code, response.get("Location", "")):
            sys.exit(f"{page.name}: unexpected answer {response.status_code} {response.get('Location', '')}")
        return (time.process_time() - started) * 1000

    for n in range(WARM_UP):
        once(n)
    times = sorted(once(WARM_UP + n) for n in range(args.requests))
    profiler = Profiler(interval=0.0005)
    with profiler:
        for n in range(args.requests):
            once(WARM_UP + args.requests + n)
    print(f"{page.name}: CPU per request median {times[len(times) // 2]:.1f} ms, best {times[0]:.1f} ms")
    print(profiler.output_text(unicode=True, color=False))
    if args.html:
        args.html.write_text(profiler.output_html())
        print(f"Written {args.html}.")


if __name__ == "__main__":
    main()
