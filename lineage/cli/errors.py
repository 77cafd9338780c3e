"""What a command says when it fails: one line saying what failed, and the next step. Never a traceback or a repr.

Most failures an operator meets have one of three causes with a known fix: no usable sign-in, a role not granted,
or a TLS-inspecting proxy whose CA this machine does not trust. The clients wrap the SDKs' exceptions (a
``DataFactoryError`` from a ``ServiceRequestError`` from a ``requests`` SSL error), so the cause is looked for along
the whole chain and in the texts the SDKs leave, not only in the outermost type.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

from lineage.azure.datafactory import DataFactoryError
from lineage.azure.purview import PurviewError
from lineage.extract.redact import first_line, redact

SIGN_IN = ("sign in with `az login` (in Azure: give the app a managed identity; a user-assigned one needs "
           "AZURE_CLIENT_ID)")
TLS = ("the server's certificate is not trusted by this machine: behind a TLS-inspecting proxy, set "
       "REQUESTS_CA_BUNDLE to a bundle with its CA; for the local stack, use --local")
FACTORY_ROLE = ("assign the custom role of infra/modules/factory-reader-role.bicep (ADF lineage reader) to your "
                "sign-in on the factory")
WRITE_ROLE = "it needs Microsoft.DataFactory/factories/pipelines/write: Data Factory Contributor on the factory"
CURATOR = "grant your sign-in Purview's Data Curator on the collection (infra/README.md, Purview roles)"
QUEUE_ROLE = ("grant your sign-in Storage Queue Data Contributor on the app's storage account (Storage Queue Data "
              "Reader is enough for poison list and show)")


def message(exc: BaseException) -> str:
    """The line to print for a failure the command could not complete, with what to do about it."""
    auth = next((e for e in _chain(exc) if isinstance(e, ClientAuthenticationError)), None)
    if auth is not None and auth.status_code is None:  # no token at all (a service's refusal has a status)
        return f"no usable Azure sign-in ({type(auth).__name__}: {first_line(auth, 200)}): {SIGN_IN}"
    if any("CERTIFICATE_VERIFY_FAILED" in str(e) or "SSLCertVerificationError" in str(e) for e in _chain(exc)):
        return f"{_said(exc)}: TLS failure: {TLS}"
    if isinstance(exc, DataFactoryError) and exc.status == 403:
        return f"{exc}: {WRITE_ROLE if 'pipelines/write' in str(exc) else FACTORY_ROLE}"
    if isinstance(exc, DataFactoryError) and exc.status == 401:
        return f"{exc}: {SIGN_IN}, in the tenant of the factory"
    if isinstance(exc, PurviewError) and exc.status in (401, 403):
        return f"{exc}: {CURATOR}"
    if isinstance(exc, ResourceNotFoundError):
        return (f"Azure Storage: {first_line(exc).rstrip('.')}: check LINEAGE_QUEUE_NAME, or deploy infra/ (it "
                "declares both queues)")
    if isinstance(exc, HttpResponseError) and exc.status_code in (401, 403):
        code = str(getattr(getattr(exc, "error_code", None), "value", None) or getattr(exc, "error_code", None)
                   or "AuthorizationFailure")  # the storage SDK's codes are enums: their value is the service's code
        if code == "AuthenticationFailed":
            return (f"Azure Storage refused the credential ({code}): the account key of AzureWebJobsStorage is wrong, "
                    "or your sign-in expired (az login)")
        return f"Azure Storage refused the call ({code}): {QUEUE_ROLE}"
    if isinstance(exc, AzureError):
        return (f"Azure Storage call failed: {type(exc).__name__}: {first_line(exc)}: check the storage setting "
                "(AzureWebJobsStorage__queueServiceUri) and that this machine can reach the account")
    return redact(str(exc))


def unexpected(exc: BaseException) -> str:
    """A failure no rule above knows: named by its type, and how to see more."""
    return (f"unexpected {type(exc).__name__}: {first_line(exc)} (run again with --debug for the details, and "
            "report it if it persists)")


def debug_logging() -> None:
    """``--debug``: every HTTP exchange (method, URL, status; headers as azure-core logs them), redacted."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    for handler in root.handlers:
        handler.setFormatter(_Redacting("%(levelname)s %(name)s: %(message)s"))
    for name, level in (("lineage", logging.DEBUG), ("urllib3.connectionpool", logging.DEBUG),
                        ("azure.core.pipeline.policies.http_logging_policy", logging.INFO),
                        ("azure.identity", logging.INFO)):
        logging.getLogger(name).setLevel(level)


class _Redacting(logging.Formatter):
    """Whatever a library logs passes the same redaction as poison reasons: tokens, keys and SAS never show."""

    def format(self, record: logging.LogRecord) -> str:
        return "\n".join(redact(line) for line in super().format(record).splitlines())


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _said(exc: BaseException) -> str:
    return first_line(exc, 200)
