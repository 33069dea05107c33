from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from users.plates import PLATE_MAX_LENGTH, STATE_MAX_LENGTH

# What a lookup's log keeps of each parameter as it was sent: enough to see a typo, not a
# place to store whatever a client sends.
GIVEN_MAX_LENGTH = 64
METER_MAX_LENGTH = 32


class Scope(models.TextChoices):
    COVERAGE = "coverage", "Coverage lookups (GET /enforcement/coverage/)"


class EnforcementKey(models.Model):
    """An enforcement client's credential: `<prefix>.<secret>`, sent as `Authorization: Key`.

    The prefix is public (it names the key in the admin and the log); the secret is 256
    random bits kept only as its SHA-256 digest. A key is never deleted: revoking it keeps
    the row, so its lookups stay attributed.
    """

    name = models.CharField(max_length=100, help_text="Who uses it: an agency, a device, a team.")
    prefix = models.CharField(max_length=32, unique=True, editable=False)
    secret_sha256 = models.CharField("secret's SHA-256", max_length=64, editable=False)
    scopes = ArrayField(
        models.CharField(max_length=32, choices=Scope.choices),
        default=list,
        blank=True,
        help_text="What the key may ask; a route outside them answers 403.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Updated at most once a minute."
    )

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name = "enforcement key"

    def __str__(self) -> str:
        return f"{self.prefix} ({self.name})"


class CoverageLookup(models.Model):
    """One answered coverage lookup: who asked (key, address), what, and what was said.

    `reason` is the answer's reason, or `invalid` (a 400) or `unknown_meter` (a 404), when
    `covered` is empty.
    """

    key = models.ForeignKey(EnforcementKey, on_delete=models.PROTECT, related_name="lookups")
    at = models.DateTimeField(default=timezone.now)
    given_plate = models.CharField(max_length=GIVEN_MAX_LENGTH, blank=True)
    given_state = models.CharField(max_length=GIVEN_MAX_LENGTH, blank=True)
    given_meter = models.CharField(max_length=GIVEN_MAX_LENGTH, blank=True)
    plate = models.CharField(max_length=PLATE_MAX_LENGTH, blank=True, help_text="Normalised.")
    plate_state = models.CharField("plate's state", max_length=STATE_MAX_LENGTH, blank=True)
    meter = models.CharField(max_length=METER_MAX_LENGTH, blank=True, help_text="Normalised.")
    covered = models.BooleanField(null=True)
    reason = models.CharField(max_length=16)
    client_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ("-at", "-id")
        indexes = [
            models.Index(fields=["-at"], name="coverage_lookup_at"),
            models.Index(fields=["key", "-at"], name="coverage_lookup_key_at"),
            # The admin's search: who asked about this plate, or this meter.
            models.Index(fields=["plate", "-at"], name="coverage_lookup_plate_at"),
            models.Index(fields=["meter", "-at"], name="coverage_lookup_meter_at"),
        ]

    def __str__(self) -> str:
        return f"Lookup {self.pk} by {self.key_id} at {self.at:%Y-%m-%d %H:%M:%S}"
