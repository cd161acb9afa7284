from celery import shared_task

from accounts.services import purge_expired_nonces


@shared_task
def purge_sign_in_nonces() -> int:
    """Delete sign-in nonces that expired more than a day ago (beat: daily)."""
    return purge_expired_nonces()
