"""The whole service on one machine: Azurite, the local Data Factory and Purview servers, and the real handlers.

``LocalStack`` starts everything, points the product's clients at it (HTTPS with a throwaway CA, local tokens), and
drives ``function_app``'s handlers through ``LocalHost``. The tests and ``./run-local`` use the same stack.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lineage.azure.ledger import TABLE_SETTING
from lineage.azure.queues import Queues
from lineage.extract.runrecord import RunRecord
from lineage.local.adf_server import AdfServer, read_records
from lineage.local.azurite import ACCOUNT, Azurite
from lineage.local.credential import LocalCredential
from lineage.local.host import HostSettings, LocalHost
from lineage.local.purview_server import PurviewServer
from lineage.local.tls import make_local_tls
from lineage.service import wiring
from lineage.service.events import RunRef, cloud_event, event_grid_event
from lineage.service.ledger import Query, RunLedger
from lineage.service.worker import Worker

TOPIC = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local"
    "/providers/Microsoft.EventGrid/topics/adf-lineage"
)


@dataclass
class LocalStack:
    """Handles to every running part."""

    azurite: Azurite
    adf: AdfServer
    purview: PurviewServer
    queues: Queues
    host: LocalHost
    worker: Worker
    credential: LocalCredential
    ledger: RunLedger

    def reset(self) -> None:
        """A clean slate between tests: no entities, faults, denials, messages, ledger rows or counted outcomes."""
        self.purview.reset()
        self.purview.clear_faults()
        self.adf.clear_faults()
        self.adf.allow_all()
        self.adf.arm.clear()
        self.queues.work.clear_messages()
        self.queues.poison.clear_messages()
        rows = self.ledger.table.query("PartitionKey ne ''", select=["PartitionKey", "RowKey"])
        self.ledger.table.delete_rows(list(rows))
        self.worker.outcomes.clear()

    def cli_settings(self, factories: list[str]) -> dict[str, str]:
        """The app settings ``python -m lineage`` needs to work on this stack (``lineage.local.envfile``)."""
        return {
            "AzureWebJobsStorage": self.azurite.connection_string,
            "LINEAGE_QUEUE_NAME": self.queues.work.queue_name,
            "DATAFACTORY_ENDPOINT": self.adf.url,
            "PURVIEW_ENDPOINT": f"{self.purview.url}/datamap/api/atlas/v2",
            "REQUESTS_CA_BUNDLE": str(self.adf.tls.ca_bundle),
            "LINEAGE_FACTORIES": json.dumps(sorted(set(factories))),
            "LINEAGE_RECONCILE_SCHEDULE": "0 */15 * * * *",
        }

    def register_app(self, factories: list[str]) -> str:
        """The Function App as a deployment leaves it, in the local ARM: its identity with a role on each factory
        and queue access on its storage account, so ``doctor`` checks the app's roles here as it does in Azure."""
        subscription = factories[0].split("/")[2] if factories else "00000000-0000-0000-0000-000000000000"
        group = f"/subscriptions/{subscription}/resourceGroups/local"
        app = f"{group}/providers/Microsoft.Web/sites/func-lineage-local"
        arm = self.adf.arm
        principal = arm.add_app(app)
        if principal is None:
            raise RuntimeError("the local Function App was created without an identity")
        reader = arm.add_role(subscription, "ADF lineage reader (local)", [
            "Microsoft.DataFactory/factories/read", "Microsoft.DataFactory/factories/*/read",
            "Microsoft.DataFactory/factories/*/action"])
        for factory in sorted(set(factories)):
            arm.assign(reader, principal, factory)
        queues = arm.add_role(subscription, "Storage Queue Data Contributor", [], data_actions=[
            "Microsoft.Storage/storageAccounts/queueServices/queues/messages/*"])
        arm.assign(queues, principal, f"{group}/providers/Microsoft.Storage/storageAccounts/{ACCOUNT}")
        return app

    def send_completed(self, record: Mapping[str, Any], *, schema: str = "eventgrid") -> str:
        """Deliver the run-completed event of a run record, as our Data Factory emitter would send it."""
        parsed = RunRecord.from_json(record)
        ref = RunRef(parsed.factory, parsed.run_id)
        event_id = str(uuid.uuid4())
        status, pipeline = str(parsed.pipeline_run.get("status")), parsed.pipeline_name
        payload = (cloud_event(event_id, ref, status=status, pipeline=pipeline) if schema == "cloudevents"
                   else event_grid_event(event_id, ref, topic=TOPIC, status=status, pipeline=pipeline))
        self.host.deliver(payload)
        return event_id


@contextmanager
def local_stack(runs_dir: Path, *, env: Mapping[str, str] | None = None, host_settings: HostSettings | None = None,
                queue_name: str = "adf-lineage-runs", purview_options: Mapping[str, Any] | None = None,
                azurite: Azurite | None = None) -> Iterator[LocalStack]:
    """Start everything; stop everything on exit, whatever happens inside (a given Azurite is left running)."""
    import function_app  # noqa: PLC0415 - the app module lives at the project root, imported on use

    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lineage-local-")))
        tls = make_local_tls(workdir / "tls")
        stack.enter_context(wiring.environment({"REQUESTS_CA_BUNDLE": str(tls.ca_bundle),
                                                "LINEAGE_QUEUE_NAME": queue_name}))
        azurite = azurite or stack.enter_context(Azurite())
        adf = stack.enter_context(AdfServer(runs_dir, tls))
        purview = stack.enter_context(PurviewServer(tls=tls, **dict(purview_options or {})))
        queues = Queues.connect(queue_name, connection_string=azurite.connection_string)
        queues.create()
        credential = LocalCredential()
        settings = {
            "DATAFACTORY_ENDPOINT": adf.url,
            "PURVIEW_ENDPOINT": f"{purview.url}/datamap/api/atlas/v2",
            "LINEAGE_WAIT_SECONDS": "1",
            "AzureWebJobsStorage": azurite.connection_string,
            TABLE_SETTING: ledger_table(queue_name),
            **dict(env or {}),
        }
        stack.enter_context(wiring.environment({"AzureWebJobsStorage": azurite.connection_string,
                                                TABLE_SETTING: settings[TABLE_SETTING]}))  # the commands read these
        worker = wiring.build_worker(credential, settings, queues=queues)
        if worker.ledger is None:
            raise RuntimeError("the local stack's worker has no run ledger")
        ledger = worker.ledger
        purview.lineage_status = lambda: [entry.to_json() for entry in ledger.find(Query())]  # the page shows it
        wiring.install_worker(worker)
        stack.callback(wiring.install_worker, None)
        host = LocalHost(queues, azurite.connection_string, settings=host_settings,
                         on_run_completed=function_app.on_run_completed.build().get_user_function(),
                         push_lineage=function_app.push_lineage.build().get_user_function())
        yield LocalStack(azurite, adf, purview, queues, host, worker, credential, worker.ledger)


def ledger_table(queue_name: str) -> str:
    """The run ledger's table beside a work queue: stacks sharing one Azurite keep their rows apart."""
    return ("runs" + "".join(c for c in queue_name if c.isalnum()))[:63]


def load_records(runs_dir: Path) -> list[dict[str, Any]]:
    """Every valid run record in a folder, in name order (``read_records`` also says which files are not)."""
    return read_records(runs_dir)[0]
