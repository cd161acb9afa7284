import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govapp.settings")
django.setup(set_prefix=False)  # as django.core.wsgi.get_wsgi_application, with our handler

from govapp.handlers import GovappWSGIHandler  # noqa: E402 - needs the apps loaded

application = GovappWSGIHandler()
