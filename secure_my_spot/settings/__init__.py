"""Settings from the environment (12-factor), one module per concern; `.env.example`
documents every variable.

`base` is what the service runs with (DJANGO_SETTINGS_MODULE=secure_my_spot.settings.base,
development and production alike: DEBUG decides); `test` sets the test environment's
defaults, then adjusts `base`. This package itself holds no settings: importing a module of
it must not read the environment before `test` has set its defaults.
"""

import os

from django.core.exceptions import ImproperlyConfigured

if os.environ.get("DJANGO_SETTINGS_MODULE") == __name__:
    # Django would go on to fail on an empty SECRET_KEY: say what to set instead.
    raise ImproperlyConfigured(
        f"DJANGO_SETTINGS_MODULE={__name__} names the settings package, which holds no "
        f"settings: set it to {__name__}.base."
    )
