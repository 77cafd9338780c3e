"""A token credential for the local servers.

The product takes any ``azure.core.credentials.TokenCredential`` (``DefaultAzureCredential`` in Azure). Locally there
is no Entra ID, so this credential issues opaque tokens that name their audience; the local servers accept only a
token for their own audience, as the real services do, which keeps the bearer-token path honest.
"""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken

TOKEN_PREFIX = "local-token:"  # noqa: S105 - a marker, not a secret
# The one identity every local token stands for (an Entra object id in shape): the local Purview's collection roles
# are granted to it, or withheld from it, by object id, as Purview's metadata policies are.
LOCAL_PRINCIPAL_ID = "00000000-0000-4000-8000-00000000c0de"


def audience_of(token: str) -> str | None:
    """The audience a local token was issued for, or None when it is not a local token."""
    return token[len(TOKEN_PREFIX):] if token.startswith(TOKEN_PREFIX) else None


class LocalCredential:
    """Issues one-hour tokens whose text carries the requested scope's audience."""

    object_id = LOCAL_PRINCIPAL_ID

    def __init__(self) -> None:
        self.requests = 0

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        """Return a token for the first scope, like an Entra ID credential would (``.default`` stripped)."""
        self.requests += 1
        audience = scopes[0].removesuffix("/.default").removesuffix(".default").rstrip("/")
        return AccessToken(TOKEN_PREFIX + audience, int(time.time()) + 3600)
