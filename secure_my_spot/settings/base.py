"""What the service runs with: every concern's module, each setting assigned in exactly one.

Development gets working defaults for the local services; nothing secret has a default
outside DEBUG. A module imports what it needs from the others (DEBUG and `env` from core),
so the order below does not matter.
"""

from secure_my_spot.settings.accounts import *  # noqa: F403
from secure_my_spot.settings.api import *  # noqa: F403
from secure_my_spot.settings.availability import *  # noqa: F403
from secure_my_spot.settings.cache import *  # noqa: F403
from secure_my_spot.settings.celery import *  # noqa: F403
from secure_my_spot.settings.core import *  # noqa: F403
from secure_my_spot.settings.database import *  # noqa: F403
from secure_my_spot.settings.email import *  # noqa: F403
from secure_my_spot.settings.observability import *  # noqa: F403
from secure_my_spot.settings.parking import *  # noqa: F403
from secure_my_spot.settings.security import *  # noqa: F403
from secure_my_spot.settings.stripe import *  # noqa: F403
