import hashlib

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from secure_my_spot.ids import new_public_id
from users.plates import PLATE_MAX_LENGTH, STATE_MAX_LENGTH


def normalize_email(email: str) -> str:
    """The whole address is case-insensitive here: people type it every way."""
    return email.strip().lower()


def email_digest(email: str) -> str:
    """A key for an address in the cache (throttles, sign-in backoff) that does not show it."""
    return hashlib.sha256(normalize_email(email).encode()).hexdigest()


class UserManager(BaseUserManager):
    use_in_migrations = True

    def get_by_natural_key(self, username: str) -> "User":
        return self.get(email=normalize_email(username))

    def create_user(self, email: str, password: str | None = None, **extra) -> "User":
        user = self.model(email=normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra) -> "User":
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField("e-mail address", max_length=254, unique=True)
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    # Set when the owner followed the link mailed to this address (or reset the password
    # through it): until then anyone could have typed the address.
    email_verified_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="users_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = normalize_email(self.email)

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None


class ProvenEmail(models.Model):
    """An address whose owner proved they read its mail (a guest's code or link, or an
    account's verification): what may tie standing to an e-mail rather than to a typist."""

    email = models.EmailField(max_length=254, unique=True)
    proven_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.email


# A nickname is a label on a phone's screen ("Work van"), not a description.
VEHICLE_NICKNAME_MAX_LENGTH = 40


class Vehicle(models.Model):
    """A car a person books for: its plate as an agent reads it (users.plates).

    The same plate may be on several accounts (a family's car). How many one account keeps
    is capped (VEHICLES_PER_ACCOUNT), enforced by the services under a lock of the user's row.
    """

    public_id = models.CharField(
        "public id",
        max_length=32,
        unique=True,
        default=new_public_id,
        editable=False,
        help_text="The id the routes use; the integer key stays internal.",
    )
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="vehicles")
    plate = models.CharField(max_length=PLATE_MAX_LENGTH, help_text="Normalised: ABC1234.")
    plate_state = models.CharField(
        "issuing state", max_length=STATE_MAX_LENGTH, help_text="Two-letter code: NY."
    )
    nickname = models.CharField(max_length=VEHICLE_NICKNAME_MAX_LENGTH, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "plate", "plate_state"], name="users_vehicle_user_plate_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plate} ({self.plate_state})"
