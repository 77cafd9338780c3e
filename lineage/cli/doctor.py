"""``python -m lineage doctor``: everything the service needs, checked live, each failure with its fix.

A deployment fails in a handful of known ways — a setting missing, a role not granted, a queue not created, a Purview
account without a type we write — and each shows up only when the first run arrives, as a poison message. The
doctor asks each dependency directly, with the same clients and settings the Function App uses.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError

from lineage.azure import catalog
from lineage.azure.datafactory import ARM_SCOPE, DataFactoryError, DataFactoryReader
from lineage.azure.ledger import CHECKPOINTS, LedgerError
from lineage.azure.purview import PurviewError, PurviewWriter
from lineage.cli import app_identity
from lineage.cli.checks import Check
from lineage.extract.config import ConfigError, LineageOptions
from lineage.extract.entities import written_schema
from lineage.extract.redact import first_line
from lineage.extract.run import KINDS
from lineage.extract.runrecord import FactoryId
from lineage.extract.stores import ASSET_TYPES
from lineage.extract.stores.naming import written_attributes
from lineage.extract.stores.resource_sets import ResourceSetConfigError, ResourceSetRules
from lineage.service import reconcile, wiring
from lineage.service.events import EVENT_TYPE
from lineage.service.worker import WorkerSettings

PURVIEW_SCOPE = "https://purview.azure.net/.default"
HOST_JSON = Path(__file__).resolve().parents[2] / "host.json"
PROBE_RUN = "00000000-0000-0000-0000-000000000000"
PROBE_NAME = "lineage-doctor-probe"
ROLE_HINT = "assign the custom role from infra/ (Data Factory lineage reader) to the identity on this factory"


def run_checks(credential: TokenCredential, env: Mapping[str, str], factories: Sequence[FactoryId] = (), *,
               app: str | None = None, write_probe: bool = False) -> list[Check]:
    """Every check, in the order a deployment is built: settings, identity, queues and the run ledger, Data Factory,
    Purview.

    With the Function App named (``app``, else LINEAGE_FUNCTION_APP_ID), its own identity's roles are what is
    checked, and a permission only the signer-in lacks is said, not failed: the app is what needs it.
    """
    checks = _settings(env)
    if app is None and env.get(app_identity.APP_SETTING):
        try:
            app = app_identity.app_id(env[app_identity.APP_SETTING])
        except ValueError as exc:
            checks.append(Check("settings", app_identity.APP_SETTING, False, str(exc),
                                "set it to the Function App's resource id, or leave it unset"))
    checks += _tokens(credential)
    checks += _queues(credential, env)
    checks += _ledger(credential, env)
    try:
        configured = reconcile.factories_from_setting(env)
    except reconcile.WindowError:
        configured = []  # already reported by the settings checks
    wanted = list(dict.fromkeys([*factories, *configured]))
    if not wanted:
        checks.append(Check("datafactory", "factories to check", False, "none named",
                            "set LINEAGE_FACTORIES (the factories to reconcile) or pass --factory RESOURCE_ID"))
    reader: DataFactoryReader | None = None
    try:
        reader = wiring.build_reader(credential, env)
    except wiring.SettingsError:
        wanted = []  # DATAFACTORY_ENDPOINT refused: the settings checks say why, and no token goes there
    if reader is not None:
        for factory in wanted:
            checks += _factory(reader, factory, as_operator=app is not None)
    if app is not None and reader is not None:
        checks += app_identity.app_checks(reader, app, wanted, _storage_account(env), env.get("AZURE_CLIENT_ID"))
    checks += _purview(credential, env, as_operator=app is not None, write_probe=write_probe)
    return checks


def _storage_account(env: Mapping[str, str]) -> str | None:
    """The app's storage account by name: from its queue endpoint, or the AccountName of a connection string."""
    host = urlsplit(env.get("AzureWebJobsStorage__queueServiceUri") or "").hostname
    if host:
        return host.split(".", 1)[0]
    parts = dict(p.split("=", 1) for p in (env.get("AzureWebJobsStorage") or "").split(";") if "=" in p)
    return parts.get("AccountName") or None


# --------------------------------------------------------------------------------------------------- settings


def _settings(env: Mapping[str, str]) -> list[Check]:
    checks = [
        _setting("PURVIEW_ACCOUNT_NAME / PURVIEW_ENDPOINT", lambda: wiring.purview_endpoint(env),
                 "set PURVIEW_ACCOUNT_NAME to the Purview account's name"),
        _setting("LINEAGE_SETTINGS", lambda: "valid" if wiring.lineage_options(env) else "",
                 "correct LINEAGE_SETTINGS: a JSON object with the keys of README 'Settings'"),
        _setting("retry and wait limits", lambda: _limits(wiring.worker_settings(env)),
                 "set LINEAGE_MAX_DEQUEUE_COUNT, LINEAGE_MAX_WAITS and LINEAGE_WAIT_SECONDS to whole numbers"),
        _setting("DATAFACTORY_ENDPOINT", lambda: wiring.datafactory_endpoint(env),
                 "set DATAFACTORY_ENDPOINT to the cloud's Resource Manager over https:// (or leave it unset)"),
        _setting("LINEAGE_ALLOWED_HOST_SUFFIXES", lambda: ", ".join(wiring.allowed_host_suffixes(env)) or "none",
                 "list host suffixes like purview.example.com, comma-separated or as a JSON array"),
        _setting("LINEAGE_FACTORIES", lambda: f"{len(reconcile.factories_from_setting(env))} factories",
                 "set LINEAGE_FACTORIES to a JSON array of factory resource ids"),
        _event_allow_list(env),
        _setting("LINEAGE_RECONCILE_WINDOW_MINUTES", lambda: f"{reconcile.window_minutes(env)} minutes",
                 "set LINEAGE_RECONCILE_WINDOW_MINUTES to whole minutes, more than the schedule's interval"),
    ]
    if not (env.get("AzureWebJobsStorage__queueServiceUri") or env.get("AzureWebJobsStorage")):
        checks.append(Check("settings", "queue storage", False, "no storage account configured",
                            "set AzureWebJobsStorage__queueServiceUri to https://<account>.queue.core.windows.net"))
    if "LINEAGE_RECONCILE_SCHEDULE" not in env:
        checks.append(Check("settings", "LINEAGE_RECONCILE_SCHEDULE", False, "missing: reconcile_runs cannot start",
                            "set it to an NCRONTAB schedule, e.g. '0 */15 * * * *' (every 15 minutes)"))
    checks.append(_dequeue_count(env))
    return checks


def _limits(settings: WorkerSettings) -> str:
    return (f"{settings.max_dequeue_count} attempts per message; a run not ended yet is read again up to "
            f"{settings.max_waits} times, {settings.wait_base_s} s apart at first, doubling up to "
            f"{settings.wait_cap_s} s")


def _event_allow_list(env: Mapping[str, str]) -> Check:
    """Whose events ``on_run_completed`` accepts: LINEAGE_FACTORIES doubles as the allow-list, and an empty one
    lets anyone holding the function's Event Grid key make the app read any factory its identity can read."""
    name = "events accepted"
    try:
        served = wiring.served_factories(env)
    except wiring.SettingsError as exc:
        return Check("settings", name, False, str(exc), "correct LINEAGE_FACTORIES: a JSON array of resource ids")
    if served is None:  # today's behaviour, said, not failed: a new deployment may add its factories later
        return Check("settings", name, True, "for ANY factory the identity can read, since LINEAGE_FACTORIES is "
                                             "empty: set it to the factories this service serves to refuse others")
    return Check("settings", name, True, f"only for the {len(served)} factories of LINEAGE_FACTORIES, of type "
                                         f"{EVENT_TYPE}")


def _setting(name: str, read: Callable[[], str], fix: str) -> Check:
    try:
        return Check("settings", name, True, read())
    except (wiring.SettingsError, reconcile.WindowError, ConfigError, ValueError) as exc:
        return Check("settings", name, False, str(exc), fix)


def _dequeue_count(env: Mapping[str, str]) -> Check:
    """The worker poisons on its last attempt itself only if it knows which attempt is the host's last."""
    try:
        host = json.loads(HOST_JSON.read_text())
        limit = int(host["extensions"]["queues"]["maxDequeueCount"])
    except (OSError, KeyError, TypeError, ValueError):
        return Check("settings", "maxDequeueCount", True, "host.json not beside the code; not compared")
    ours = env.get("LINEAGE_MAX_DEQUEUE_COUNT", "5")
    if ours == str(limit):
        return Check("settings", "maxDequeueCount", True, f"{limit} in host.json and LINEAGE_MAX_DEQUEUE_COUNT")
    return Check("settings", "maxDequeueCount", False,
                 f"host.json says {limit}, LINEAGE_MAX_DEQUEUE_COUNT says {ours}",
                 "make them equal, or failed runs reach the poison queue without their reason")


# --------------------------------------------------------------------------------------------------- identity


def _tokens(credential: TokenCredential) -> list[Check]:
    checks = []
    for what, scope in (("Azure Resource Manager", ARM_SCOPE), ("Purview", PURVIEW_SCOPE)):
        try:
            credential.get_token(scope)
            checks.append(Check("identity", f"token for {what}", True))
        except AzureError as exc:  # CredentialUnavailableError and ClientAuthenticationError alike
            checks.append(Check("identity", f"token for {what}", False, f"{type(exc).__name__}: {first_line(exc)}",
                                "sign in (az login) or give the app a managed identity"))
    return checks


# ----------------------------------------------------------------------------------------------------- ledger


def _ledger(credential: TokenCredential, env: Mapping[str, str]) -> list[Check]:
    """The run ledger's table exists and this identity may read it (one query of one partition; nothing written)."""
    try:
        ledger = wiring.connect_ledger(env, credential)
    except wiring.SettingsError as exc:
        return [Check("ledger", "connect", False, str(exc), "correct the storage setting the message names")]
    if ledger is None:
        return []  # no storage at all: the settings checks said so already
    name = f"run ledger table {ledger.table.name}"
    try:
        next(iter(ledger.table.query("PartitionKey eq @p", {"p": CHECKPOINTS}, select=["RowKey"])), None)
    except LedgerError as exc:
        status = getattr(exc.__cause__, "status_code", None)
        status = status if isinstance(status, int) else 0
        fix = {404: "deploy infra/ (it declares the table) or create it",
               403: "grant the identity Storage Table Data Contributor on the table"}.get(
            status, "check the storage account in AzureWebJobsStorage__tableServiceUri")
        return [Check("ledger", name, False, str(exc), fix)]
    return [Check("ledger", name, True, "reachable: see python -m lineage status")]


# ----------------------------------------------------------------------------------------------------- queues


def _queues(credential: TokenCredential, env: Mapping[str, str]) -> list[Check]:
    if not (env.get("AzureWebJobsStorage__queueServiceUri") or env.get("AzureWebJobsStorage")):
        return []  # the settings checks said so already
    try:
        queues = wiring.connect_queues(env, credential)
    except wiring.SettingsError as exc:
        return [Check("queues", "connect", False, str(exc), "correct the storage setting the message names")]
    return [_queue(client_name, client) for client_name, client in
            (("work queue", queues.work), ("poison queue", queues.poison))]


def _queue(what: str, client: Any) -> Check:
    name = client.queue_name
    try:
        properties = client.get_queue_properties()
    except ResourceNotFoundError:
        return Check("queues", f"{what} {name}", False, "does not exist",
                     "deploy infra/ (it declares both queues) or create the queue")
    except HttpResponseError as exc:
        fix = ("grant the identity Storage Queue Data Contributor on the storage account" if exc.status_code == 403
               else "check the storage account in AzureWebJobsStorage__queueServiceUri")
        return Check("queues", f"{what} {name}", False, f"HTTP {exc.status_code}: {first_line(exc)}", fix)
    except AzureError as exc:
        return Check("queues", f"{what} {name}", False, f"{type(exc).__name__}: {first_line(exc)}",
                     "check the storage account's address and that this machine can reach it")
    count = properties.approximate_message_count
    detail = f"{count} message(s)" if count is not None else "reachable"
    if what == "poison queue" and count:
        return Check("queues", f"{what} {name}", True,
                     f"{detail}: see python -m lineage poison list")
    return Check("queues", f"{what} {name}", True, detail)


# ------------------------------------------------------------------------------------------------ Data Factory


def _factory(reader: DataFactoryReader, factory: FactoryId, *, as_operator: bool = False) -> list[Check]:
    """Each permission the worker uses, by a call that needs exactly it (a probe id answers 404 when allowed).

    ``as_operator``: the identity probing is not the app's, whose roles are checked on their own."""
    now = datetime.now(UTC)
    try:
        reader.factory(factory)
    except DataFactoryError as exc:
        if exc.status == 404:  # every probe below would answer 404 too, and look allowed
            return [Check("datafactory", f"{factory.factory_name}: the factory", False, str(exc),
                          "check the factory's resource id (subscription, resource group, name)")]
        if exc.status != 403:
            return [Check("datafactory", f"{factory.factory_name}: the factory", False, str(exc),
                          "check DATAFACTORY_ENDPOINT and that this machine can reach Azure Resource Manager")]
    probes: list[tuple[str, bool, Callable[[], Any]]] = [  # (action, whether 404 means allowed, the call)
        ("read", False, lambda: reader.factory(factory)),
        ("querypipelineruns/action", False,
         lambda: next(iter(reader.query_pipeline_runs(factory, now - timedelta(minutes=1), now)), None)),
        ("pipelineruns/read", True, lambda: reader.pipeline_run(factory, PROBE_RUN)),
        ("pipelineruns/queryactivityruns/action", True,
         lambda: reader.activity_runs(factory, {"runId": PROBE_RUN, "runStart": now.isoformat(),
                                                "runEnd": now.isoformat()})),
        *[(f"{kind}/read", True, _definition_probe(reader, factory, kind))
          for kind in ("pipelines", "datasets", "linkedservices", "dataflows", "globalParameters")],
    ]
    checks = []
    for action, probed_by_name, probe in probes:
        name = f"{factory.factory_name}: Microsoft.DataFactory/factories/{action}"
        try:
            probe()
            checks.append(Check("datafactory", name, True))
        except DataFactoryError as exc:
            if exc.status == 404 and probed_by_name:
                checks.append(Check("datafactory", name, True, "allowed (probe not found, as expected)"))
            elif exc.status == 403 and as_operator:
                checks.append(Check("datafactory", name, True, "denied to your sign-in, which push, backfill and save "
                                                               "from this machine need; the app's own roles are "
                                                               "checked under app identity"))
            elif exc.status == 403:
                checks.append(Check("datafactory", name, False, "denied", ROLE_HINT))
            else:
                checks.append(Check("datafactory", name, False, str(exc),
                                    "check DATAFACTORY_ENDPOINT and that the factory exists"))
    return checks


def _definition_probe(reader: DataFactoryReader, factory: FactoryId, kind: str) -> Callable[[], Any]:
    return lambda: reader.definition(factory, kind, PROBE_NAME)


# ----------------------------------------------------------------------------------------------------- Purview


def _purview(credential: TokenCredential, env: Mapping[str, str], *, as_operator: bool = False,
             write_probe: bool = False) -> list[Check]:
    try:
        writer = PurviewWriter(credential, wiring.purview_endpoint(env), max_attempts=2)
    except wiring.SettingsError:
        return []  # the settings checks said so already
    try:
        options = wiring.lineage_options(env)
    except (wiring.SettingsError, ConfigError):
        options = LineageOptions()  # reported by the settings checks; the types are checked with the defaults
    definitions = _Definitions(writer)
    try:
        checks = [_own_type(definitions, name, attributes, relationships) for name, (attributes, relationships)
                  in written_schema([k.purview for k in KINDS.values()], options.pipeline_factory_attribute).items()]
        missing_assets = sorted(t for t in ASSET_TYPES if definitions.get(t) is None)
    except PurviewError as exc:
        if exc.status in (401, 403) and as_operator:
            return [Check("purview", "read type definitions", True,
                          "denied to your sign-in: the types are not checked. The app's Data Curator role is a "
                          "collection role ARM does not show: the post-deploy hook grants it")]
        fix = ("grant the identity Data Curator on the collection (infra/README.md)" if exc.status in (401, 403)
               else "check PURVIEW_ACCOUNT_NAME / PURVIEW_ENDPOINT")
        return [Check("purview", "read type definitions", False, str(exc), fix)]
    # A type the account lacks matters only for runs that touch that store (they then end in the poison queue with
    # the type named): reported, not failed, since most accounts have no use for every store.
    checks.append(Check("purview", "asset types of the supported stores", True,
                        f"{len(ASSET_TYPES) - len(missing_assets)} known; unknown, so runs writing to these stores "
                        f"will be poisoned until a source of that kind is registered: {', '.join(missing_assets)}"
                        if missing_assets else f"{len(ASSET_TYPES)} known"))
    checks.append(_mandatory(writer, set(ASSET_TYPES) - set(missing_assets)))
    checks.append(_resource_sets(writer, options))
    if write_probe:  # where the lineage goes: each mapped collection, else the root
        targets: list[str | None] = [*options.collections.named()] or [None]
        checks.extend(_write_probe(writer, collection) for collection in targets)
    return checks + _collections(writer, credential, options)


def _write_probe(writer: PurviewWriter, collection: str | None) -> Check:
    """Write access proven the only way Purview shows it: an entity created where the lineage goes (``collection``,
    through the same bulk call; None: the root), then deleted. A generic DataSet under a name no scan uses, so it can
    never be mistaken for, or merged with, a real asset."""
    name = f"write access in {f'collection {collection}' if collection else 'the root collection'} (probe entity " \
           "created and deleted)"
    qualified_name = f"{PROBE_NAME}://{uuid.uuid4()}"
    probe = {"typeName": "DataSet", "attributes": {"qualifiedName": qualified_name, "name": PROBE_NAME}}
    try:
        written = writer.push([probe], collection)
    except PurviewError as exc:
        fix = ("grant the identity Data Curator on the collection the lineage is written to (infra/README.md)"
               if exc.status in (401, 403) else "check PURVIEW_ACCOUNT_NAME / PURVIEW_ENDPOINT")
        return Check("purview", name, False, first_line(exc), fix)
    guids = list(written.guid_assignments.values())
    try:
        for guid in guids:
            catalog.delete(writer, guid)
    except PurviewError as exc:
        return Check("purview", name, False, f"created {qualified_name} but could not delete "
                                             f"it: {first_line(exc)}", "delete it in the portal; Data Curator "
                                                                       "deletes too, so check the role")
    if not guids:
        return Check("purview", name, False, "Purview accepted the probe but assigned it no guid",
                     "report this answer: a bulk write must assign guids")
    return Check("purview", name, True, "the identity may write entities")


def _mandatory(writer: PurviewWriter, known: set[str]) -> Check:
    """What the live type definitions make mandatory for the assets we may create, and that we write it."""
    written = written_attributes()
    satisfied: list[str] = []
    lacking: list[str] = []
    for name in sorted(known):
        try:
            required = writer.mandatory_attributes(name) - {"qualifiedName", "name"}
        except PurviewError as exc:
            return Check("purview", "mandatory attributes of new assets", False, first_line(exc),
                         "check PURVIEW_ACCOUNT_NAME / PURVIEW_ENDPOINT and the identity's role")
        missing = required - written.get(name, frozenset())
        if missing:
            lacking.append(f"{name}: {', '.join(sorted(missing))}")
        elif required:
            satisfied.append(f"{name}: {', '.join(sorted(required))}")
    if lacking:
        return Check("purview", "mandatory attributes of new assets", False, "; ".join(lacking),
                     "runs that would create such an asset end in the poison queue with this reason until it is "
                     "scanned (scan the source first) or the product writes the attribute")
    return Check("purview", "mandatory attributes of new assets", True, "written: " + "; ".join(satisfied))


def _resource_sets(writer: PurviewWriter, options: LineageOptions) -> Check:
    """The account's resource-set rules against the ones Copy lineage is named with."""
    name = "resource-set rules"
    try:
        live = ResourceSetRules.from_config(writer.resource_set_config())
    except PurviewError as exc:
        if exc.status in (401, 403):  # the service never reads them: a role it does not need is no failure of it
            return Check("purview", name, True, "not compared: this identity may not read the account's rules "
                                                f"({first_line(exc, 120)}); a Data Reader on the root collection can")
        return Check("purview", name, False, f"cannot read the account's rules: {first_line(exc)}",
                     "check PURVIEW_ACCOUNT_NAME / PURVIEW_ENDPOINT, or set resourceSets / resourceSetRules in "
                     "LINEAGE_SETTINGS by hand")
    except ResourceSetConfigError as exc:
        return Check("purview", name, False, f"cannot read the account's rules: {first_line(exc)}",
                     "grant the identity Data Reader on the root collection, or set resourceSets / resourceSetRules "
                     "in LINEAGE_SETTINGS by hand")
    used = options.resource_sets
    if used is None:
        return Check("purview", name, True, "off (resourceSets: false): Copy lineage names files, not resource sets")
    differences = used.differences(live)
    if differences:
        return Check("purview", name, False, "the account's rules differ from those in use: " + "; ".join(differences),
                     "save them with `python -m lineage resource-sets --out rules.json` and set resourceSetRules")
    return Check("purview", name, True, "the account's rules are those in use")


def _own_type(definitions: _Definitions, name: str, attributes: frozenset[str],
              relationships: frozenset[str]) -> Check:
    if definitions.get(name) is None:
        return Check("purview", f"type {name}", False, "the account does not know this type",
                     "Purview's Data Factory types are missing: connect a Data Factory to the account once "
                     "(Management > Data Factory), which installs them")
    known_attributes, known_relationships = definitions.attributes(name)
    lacking = sorted((attributes - known_attributes - known_relationships) | (relationships - known_relationships))
    if lacking:
        return Check("purview", f"type {name}", False, f"has no attribute {', '.join(lacking)}",
                     "set pipelineFactoryAttribute in LINEAGE_SETTINGS if it is the pipeline's factory reference; "
                     "otherwise report the account's type definition")
    return Check("purview", f"type {name}", True, f"{len(attributes) + len(relationships)} attributes as written")


class _Definitions:
    """Live type definitions, each read once, with the attributes they inherit."""

    def __init__(self, writer: PurviewWriter) -> None:
        self._writer = writer
        self._cache: dict[str, dict[str, Any] | None] = {}

    def get(self, name: str) -> dict[str, Any] | None:
        if name not in self._cache:
            self._cache[name] = self._writer.type_definition(name)
        return self._cache[name]

    def attributes(self, name: str) -> tuple[frozenset[str], frozenset[str]]:
        plain: set[str] = set()
        related: set[str] = set()
        pending, seen = [name], set()
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            definition = self.get(current) or {}
            plain.update(a["name"] for a in definition.get("attributeDefs") or [] if "name" in a)
            related.update(a["name"] for a in definition.get("relationshipAttributeDefs") or [] if "name" in a)
            pending.extend(definition.get("superTypes") or [])
        return frozenset(plain), frozenset(related)


# ------------------------------------------------------------------------------------------------ collections


def _collections(writer: PurviewWriter, credential: TokenCredential, options: LineageOptions) -> list[Check]:
    """Every collection the mapping names exists, and the identity is Data Curator there (directly, or through a
    parent collection, as Purview's roles inherit)."""
    named = options.collections.named()
    if not named:
        return [Check("purview", "collections", True, "none mapped: lineage goes to the root collection")]
    try:
        parents = catalog.collections(writer)
    except PurviewError as exc:
        return [Check("purview", "collections", False, first_line(exc),
                      "let the identity read the account's collections (any collection role), then run doctor again")]
    who = _object_id(credential)
    curators: dict[str, set[str]] = {}
    checks = []
    for name in named:
        check = f"collection {name}"
        if name not in parents:
            checks.append(Check("purview", check, False, "no such collection in the account",
                                "create it, or correct the collections setting: a collection's name is the short "
                                "id in the portal's URL, not its display name"))
            continue
        if who is None:
            checks.append(Check("purview", check, False, "exists; the identity's object id is unknown (its token "
                                "carries none), so its Data Curator role cannot be checked",
                                "check in the portal that the app's identity is Data Curator here"))
            continue
        try:
            granted = _curator_at(writer, name, parents, who, curators)
        except PurviewError as exc:
            checks.append(Check("purview", check, False, f"exists; its metadata policy cannot be read: "
                                f"{first_line(exc)}", "check in the portal that the app's identity is Data Curator "
                                "here (reading policies needs Collection Admin)"))
            continue
        if granted is None:
            checks.append(Check("purview", check, False, f"exists, but {who} is not Data Curator there",
                                f"grant it: python infra/hooks/grant_purview_curator.py --collection {name} "
                                f"--object-id {who} (infra/README.md)"))
        else:
            via = "" if granted == name else f" (inherited from {granted})"
            checks.append(Check("purview", check, True, f"exists; {who} is Data Curator{via}"))
    return checks


def _curator_at(writer: PurviewWriter, name: str, parents: Mapping[str, str | None], who: str,
                known: dict[str, set[str]]) -> str | None:
    """The collection, from ``name`` up to the root, whose policy makes ``who`` Data Curator; each read once."""
    at: str | None = name
    seen: set[str] = set()
    while at is not None and at not in seen:
        seen.add(at)
        if at not in known:
            known[at] = catalog.curators(writer, at)
        if who.lower() in known[at]:
            return at
        at = parents.get(at)
    return None


def _object_id(credential: TokenCredential) -> str | None:
    """The identity's object id: the ``oid`` claim of its Purview token (read, never printed), else what the
    credential says of itself (the local credential)."""
    try:
        parts = credential.get_token(PURVIEW_SCOPE).token.split(".")
    except AzureError:  # the identity checks report it
        parts = []
    if len(parts) == 3:
        try:
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except (ValueError, UnicodeDecodeError):
            claims = None
        oid = claims.get("oid") if isinstance(claims, dict) else None
        if isinstance(oid, str):
            return oid
    own = getattr(credential, "object_id", None)
    return own if isinstance(own, str) else None
