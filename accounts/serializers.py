"""Request and response shapes of the wallet sign-in API (also its OpenAPI schema)."""

from __future__ import annotations

from rest_framework import serializers

from govapp.api import ErrorBodySerializer, ErrorSerializer  # noqa: F401 - the API's one error shape, re-exported


class NonceRequestSerializer(serializers.Serializer):
    address = serializers.CharField(allow_blank=True,
                                    help_text="The wallet address to sign in with (0x + 40 hex digits).")


class NonceResponseSerializer(serializers.Serializer):
    message = serializers.CharField(help_text="The exact EIP-4361 text to sign with personal_sign.")
    nonce = serializers.CharField()
    expires_at = serializers.DateTimeField()


class LoginRequestSerializer(serializers.Serializer):
    # No whitespace trimming: the message must come back byte for byte as issued.
    message = serializers.CharField(trim_whitespace=False, allow_blank=True,
                                    help_text="The message from /accounts/nonce, unchanged.")
    signature = serializers.CharField(allow_blank=True,
                                      help_text="The personal_sign signature: 0x + 130 hex digits.")


class AddressSerializer(serializers.Serializer):
    address = serializers.CharField(allow_blank=True, help_text="EIP-55 checksummed address of the signed-in user.")


class MeSerializer(AddressSerializer):
    is_staff = serializers.BooleanField(help_text="Foundation staff")
