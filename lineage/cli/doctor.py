"""``python -m lineage doctor``: everything the service needs, checked live, each failure with its fix.

A deployment fails in a handful of known ways — a setting missing, a role not granted, a queue not created, a Purview
account without a type we write — and each shows up only when the first run arrives, as a poison message. The
doctor asks each dependency directly, with the same clients and settings the Function App uses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError

from lineage.azure.datafactory import ARM_SCOPE, DataFactoryError, DataFactoryReader
from lineage.azure.ledger import CHECKPOINTS, LedgerError
from lineage.azure.purview import PurviewError, PurviewWriter
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

PURVIEW_SCOPE = "https://purview.azure.net/.default"
HOST_JSON = Path(__file__).resolve().parents[2] / "host.json"
PROBE_RUN = "00000000-0000-0000-0000-000000000000"
PROBE_NAME = "lineage-doctor-probe"
ROLE_HINT = "assign the custom role from infra/ (Data Factory lineage reader) to the identity on this factory"


@dataclass(frozen=True, slots=True)
class Check:
    """One finding: what was checked, whether it holds, and if not, what to do."""

    area: str
    name: str
    ok: bool
    detail: str = ""
    fix: str = ""

    def line(self) -> str:
        text = f"[{'ok' if self.ok else 'FIX'}] {self.area}: {self.name}" + (f" - {self.detail}" if self.detail else "")
        return text + (f"\n      fix: {self.fix}" if self.fix and not self.ok else "")

    def to_json(self) -> dict[str, Any]:
        return {"area": self.area, "name": self.name, "ok": self.ok, "detail": self.detail, "fix": self.fix}


def run_checks(credential: TokenCredential, env: Mapping[str, str],
               factories: Sequence[FactoryId] = ()) -> list[Check]:
    """Every check, in the order a deployment is built: settings, identity, queues and the run ledger, Data Factory,
    Purview."""
    checks = _settings(env)
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
    try:
        reader = wiring.build_reader(credential, env)
    except wiring.SettingsError:
        wanted = []  # DATAFACTORY_ENDPOINT refused: the settings checks say why, and no token goes there
    for factory in wanted:
        checks += _factory(reader, factory)
    checks += _purview(credential, env)
    return checks


# --------------------------------------------------------------------------------------------------- settings


def _settings(env: Mapping[str, str]) -> list[Check]:
    checks = [
        _setting("PURVIEW_ACCOUNT_NAME / PURVIEW_ENDPOINT", lambda: wiring.purview_endpoint(env),
                 "set PURVIEW_ACCOUNT_NAME to the Purview account's name"),
        _setting("LINEAGE_SETTINGS", lambda: "valid" if wiring.lineage_options(env) else "",
                 "correct LINEAGE_SETTINGS: a JSON object with the keys of README 'Settings'"),
        _setting("retry and wait limits", lambda: str(wiring.worker_settings(env)),
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


def _factory(reader: DataFactoryReader, factory: FactoryId) -> list[Check]:
    """Each permission the worker uses, by a call that needs exactly it (a probe id answers 404 when allowed)."""
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
            elif exc.status == 403:
                checks.append(Check("datafactory", name, False, "denied", ROLE_HINT))
            else:
                checks.append(Check("datafactory", name, False, str(exc),
                                    "check DATAFACTORY_ENDPOINT and that the factory exists"))
    return checks


def _definition_probe(reader: DataFactoryReader, factory: FactoryId, kind: str) -> Callable[[], Any]:
    return lambda: reader.definition(factory, kind, PROBE_NAME)


# ----------------------------------------------------------------------------------------------------- Purview


def _purview(credential: TokenCredential, env: Mapping[str, str]) -> list[Check]:
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
    return checks


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
    except (PurviewError, ResourceSetConfigError) as exc:
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
