"""The WSGI application gunicorn serves (see the Procfile)."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pit_portal.settings")

application = get_wsgi_application()

# Everything loaded so far (Django, the apps, their modules) lives as long as the worker. Frozen, the garbage
# collector no longer walks it: a full collection took up to 130 ms with it, and came round every ten or so
# calendar pages, which made their slowest twentieth; after freezing it takes a few milliseconds.
gc.collect()
gc.freeze()
