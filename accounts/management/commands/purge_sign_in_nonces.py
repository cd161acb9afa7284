from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from accounts.services import PURGE_GRACE, purge_expired_nonces


class Command(BaseCommand):
    help = "Delete sign-in nonces that expired more than --grace-hours ago (used or not)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--grace-hours", type=float, default=PURGE_GRACE.total_seconds() / 3600)

    def handle(self, *args: Any, grace_hours: float, **options: Any) -> None:
        deleted = purge_expired_nonces(grace=timedelta(hours=grace_hours))
        self.stdout.write(f"deleted {deleted} expired sign-in nonce(s)")
