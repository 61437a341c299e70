"""Writes for accounts: sign-up and API tokens."""

import hashlib
import secrets

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ApiToken, User
from kabao.errors import DomainError


def token_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def user_register(*, email: str, password: str) -> User:
    email = email.strip().lower()
    try:
        validate_password(password, User(email=email))
    except ValidationError as exc:
        raise DomainError("weak_password", " ".join(exc.messages), fields={"password": exc.messages}) from exc
    try:
        with transaction.atomic():
            return User.objects.create_user(email=email, password=password)
    except IntegrityError as exc:
        raise DomainError(
            "email_taken", "This email is already registered.", status=409, fields={"email": ["taken"]}
        ) from exc


def api_token_create(*, user: User, name: str = "api") -> tuple[ApiToken, str]:
    """Return the token row and its key; the key is shown once and never stored."""
    key = secrets.token_hex(20)
    token = ApiToken.objects.create(user=user, name=name[:80], digest=token_digest(key), prefix=key[:8])
    return token, key


def api_token_revoke(*, token: ApiToken, actor: User) -> None:
    if token.user_id != actor.pk:
        raise DomainError("not_found", "Not found.", status=404)
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
