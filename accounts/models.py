"""Users are wallet addresses: the checksummed address is the identity, there are no passwords."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from eth_utils import to_checksum_address


class UserManager(BaseUserManager["User"]):
    def get_by_natural_key(self, address: str) -> User:
        return self.get(address=to_checksum_address(address))

    def for_address(self, address: str) -> User:
        """The user for a wallet address, created on first sign-in."""
        user, _ = self.get_or_create(address=to_checksum_address(address))
        return user

    def create_user(self, address: str, **extra: object) -> User:
        user = self.model(address=to_checksum_address(address), **extra)
        user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, address: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        user = self.create_user(address, **extra)
        if password:
            user.set_password(password)
            user.save(using=self._db)
        return user


class User(AbstractBaseUser, PermissionsMixin):
    address = models.CharField(max_length=42, unique=True, help_text="EIP-55 checksummed address")
    display_name = models.CharField(max_length=80, blank=True)
    is_staff = models.BooleanField(default=False, help_text="Foundation staff: runs the process")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(auto_now_add=True)

    objects = UserManager()

    USERNAME_FIELD = "address"
    REQUIRED_FIELDS: list[str] = []

    def save(self, *args: object, **kwargs: object) -> None:
        self.address = to_checksum_address(self.address)
        if not self.password:
            self.set_unusable_password()
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return self.display_name or self.address


class SignInNonce(models.Model):
    """One EIP-4361 sign-in message issued for an address: single-use, short-lived.

    The exact text issued is stored, and a sign-in must submit it byte for byte. `used_at` is set
    by the one successful sign-in; a failed attempt leaves the row untouched (see
    accounts.services.verify_sign_in).
    """

    nonce = models.CharField(max_length=64, unique=True, editable=False)
    message = models.TextField(editable=False, help_text="The exact EIP-4361 text issued")
    address = models.CharField(max_length=42, db_index=True, help_text="EIP-55 checksummed address")
    chain_id = models.PositiveBigIntegerField()
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "sign-in nonce"
        ordering = ["-issued_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("issued_at")),
                name="signinnonce_expires_after_issue",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.nonce} for {self.address}"

    @property
    def is_used(self) -> bool:
        return self.used_at is not None
