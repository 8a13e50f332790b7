"""The framework's floor for bench/load_bench.py: one minimal view behind the portal's own settings and middleware.

Served by its own gunicorn (`gunicorn bench.floor_wsgi`), never by the portal: the view has no URL in
pit_portal.urls. This module is that server's URLconf as well as its WSGI application.
"""

import gc
import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, HttpResponse
from django.urls import path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pit_portal.settings")
settings.ROOT_URLCONF = __name__


def floor(request: HttpRequest) -> HttpResponse:
    """Does nothing a page does: the cost of the server, Django and the middleware (session, user, second factor)."""
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [path("floor/", floor, name="floor")]

application = get_wsgi_application()
gc.collect()
gc.freeze()  # as pit_portal/wsgi.py does, so the floor is served the same way
