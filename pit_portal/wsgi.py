"""The WSGI application gunicorn serves (see the Procfile)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pit_portal.settings")

application = get_wsgi_application()
