"""The command line: ``python -m lineage <command>``.

Commands that reach Azure use the app's own settings (environment variables named as in the Function App) and
``DefaultAzureCredential`` (your ``az login`` sign-in, or a managed identity). Exit codes: 0 done, 1 the input was
rejected or some work failed (the message says which and why), 2 wrong usage.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError

from lineage import __version__
from lineage.azure.datafactory import DataFactoryError
from lineage.azure.ledger import LedgerError
from lineage.azure.purview import PurviewError, PurviewWriter
from lineage.azure.queues import Queues
from lineage.cli import errors, local, wrap
from lineage.cli import status as status_command
from lineage.extract.config import ConfigError, LineageOptions
from lineage.extract.drift import DRIFT
from lineage.extract.entities import assets_of, explain
from lineage.extract.mermaid import flowchart
from lineage.extract.run import extract
from lineage.extract.runrecord import FactoryId, RunRecord, RunRecordError
from lineage.extract.stores.linked_services import visible_properties
from lineage.extract.stores.resource_sets import ResourceSetConfigError, ResourceSetRules
from lineage.service import poison_queue, reconcile, wiring
from lineage.service.events import BACKFILLED, EventError, RunRef, run_ref
from lineage.service.wiring import SettingsError, connect_queues
from lineage.service.worker import NOT_ENDED, Outcome, Processed

EXIT_REJECTED = 1


def main(argv: Sequence[str] | None = None, *, credential: TokenCredential | None = None,
         local_credential: Callable[[], TokenCredential] | None = None) -> int:
    """Run one command; ``credential`` replaces ``DefaultAzureCredential`` (the local stack passes its own), and
    ``local_credential`` makes the one ``--local`` uses (the local servers take no Entra ID token)."""
    parser = _parser()
    args = parser.parse_args(argv)
    args.credential = credential
    if args.debug:
        errors.debug_logging()
    try:
        if args.local_env is None:
            return int(args.handler(args))
        if args.credential is None:
            if local_credential is None:
                raise SettingsError("--local works from the command line (python -m lineage --local ...), which "
                                    "gives it the local stack's credential")
            args.credential = local_credential()
        with local.local_environment(args.local_env):
            return int(args.handler(args))
    except (RunRecordError, ConfigError, SettingsError, EventError, reconcile.WindowError, DataFactoryError,
            PurviewError, ResourceSetConfigError, poison_queue.SelectionError, LedgerError, AzureError) as exc:
        print(f"error: {errors.message(exc)}", file=sys.stderr)
        return EXIT_REJECTED
    except BrokenPipeError:  # whoever read our output stopped reading: the entry point ends quietly
        raise
    except Exception as exc:  # noqa: BLE001 - a defect: said in one line, reported, its traceback with --debug
        print(f"error: {errors.unexpected(exc)}", file=sys.stderr)
        if args.debug:
            traceback.print_exc()
        return EXIT_REJECTED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lineage", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--local", dest="local_env", action="store_const", const=local.ENV_FILE,
                        help="work on the local stack of ./run-local --serve (its settings: .local/env), not on Azure")
    parser.add_argument("--local-env", type=Path, metavar="FILE", help="--local with the settings in FILE")
    parser.add_argument("--debug", action="store_true",
                        help="log every HTTP exchange (redacted), and a traceback for an unexpected failure")
    _examples(parser, "")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    explain_cmd = commands.add_parser(
        "explain",
        help="show the Purview entities and per-activity outcomes for run records (no network)",
        description="Extract lineage from run records and print what would be pushed to Purview.",
    )
    explain_cmd.add_argument("records", nargs="+", type=Path, metavar="RUN_RECORD.json")
    explain_cmd.add_argument("--format", choices=("json", "mermaid"),
                             help="mermaid: the lineage graph, one flowchart for all the files; json: as --output json")
    explain_cmd.add_argument("--config", type=Path, help="lineage settings (JSON; see README)")
    output_arguments(explain_cmd, default="json")
    explain_cmd.set_defaults(handler=_explain)
    _examples(explain_cmd, "explain")

    poison = commands.add_parser(
        "poison", help="inspect, replay or purge the poison queue",
        description="Work on <queue>-poison of the storage account in AzureWebJobsStorage__queueServiceUri "
                    "(identity) or AzureWebJobsStorage (connection string); queue name from LINEAGE_QUEUE_NAME.")
    _examples(poison, "poison")
    actions = poison.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="id, age, run and reason of every message (filters, --top)")
    _selection_arguments(listing)
    listing.add_argument("--top", type=_count, metavar="N", help="the N oldest messages only")
    output_arguments(listing)
    listing.set_defaults(handler=_poison_list)
    _examples(listing, "poison list")
    show = actions.add_parser("show", help="one message in full, with the original message")
    show.add_argument("id", help="a message id, or the start of one that no other id starts with")
    output_arguments(show)
    show.set_defaults(handler=_poison_show)
    _examples(show, "poison show")
    replay = actions.add_parser("replay", help="put messages back on the work queue (after fixing the cause)")
    target = replay.add_mutually_exclusive_group(required=True)
    target.add_argument("ids", nargs="*", default=[], metavar="ID", help="ids or unique starts of ids")
    target.add_argument("--all", action="store_true", help="every message the filters admit")
    _selection_arguments(replay)
    output_arguments(replay)
    replay.set_defaults(handler=_poison_replay)
    _examples(replay, "poison replay")
    purge = actions.add_parser("purge", help="delete messages (asks before deleting more than the ids named)")
    which = purge.add_mutually_exclusive_group(required=True)
    which.add_argument("ids", nargs="*", default=[], metavar="ID", help="ids or unique starts of ids")
    which.add_argument("--all", action="store_true", help="every message the filters admit")
    _selection_arguments(purge)
    purge.add_argument("--yes", action="store_true", help="do not ask before deleting")
    output_arguments(purge)
    purge.set_defaults(handler=_poison_purge)
    _examples(purge, "poison purge")

    push = commands.add_parser(
        "push", help="process one ended run now and print what was written to Purview",
        description="Read one pipeline run back from Data Factory, extract its lineage and write it to Purview, "
                    "synchronously (settings: DATAFACTORY_ENDPOINT, PURVIEW_ACCOUNT_NAME, LINEAGE_SETTINGS).")
    push.add_argument("--factory", required=True, metavar="RESOURCE_ID", help="the factory's ARM resource id")
    push.add_argument("--run-id", required=True)
    output_arguments(push)
    push.add_argument("--dry-run", action="store_true",
                      help="read the run and the catalog, print what would be written, write nothing")
    push.set_defaults(handler=_push)
    _examples(push, "push")

    save = commands.add_parser(
        "save", help="save a live run as a run record file (for explain, or to attach to a report)",
        description="Read one pipeline run back from Data Factory with everything its lineage needs, and write it as "
                    "a run record (README: The run record). Linked services keep only the properties the naming "
                    "rules read: no connection string secret is ever written.")
    save.add_argument("--factory", required=True, metavar="RESOURCE_ID", help="the factory's ARM resource id")
    save.add_argument("--run-id", required=True)
    save.add_argument("--out", type=Path, required=True, metavar="FILE")
    save.set_defaults(handler=_save)
    _examples(save, "save")

    backfill = commands.add_parser(
        "backfill", help="queue (or process) the runs that ended in a time window",
        description="Ask Data Factory for the runs that ended in [--since, --until) and queue each for the "
                    "service, or process them here with --now. Data Factory keeps 45 days of runs.")
    backfill.add_argument("--factory", action="append", default=[], metavar="RESOURCE_ID",
                          help="a factory resource id (repeatable; default: the LINEAGE_FACTORIES setting)")
    backfill.add_argument("--since", required=True, type=_moment, metavar="WHEN",
                          help="an ISO time or date, or an age like 3d, 12h (as --older-than takes)")
    backfill.add_argument("--until", type=_moment, metavar="WHEN", help="the same forms (default: now)")
    backfill.add_argument("--pipeline", action="append", default=[], help="only runs of this pipeline (repeatable)")
    backfill.add_argument("--now", action="store_true", help="process each run here instead of queueing it")
    output_arguments(backfill)
    backfill.set_defaults(handler=_backfill)
    _examples(backfill, "backfill")

    wrap = commands.add_parser(
        "wrap", help="add a wrapper pipeline that publishes a pipeline's run-completed event",
        description="Make <PIPELINE>_with_lineage: it runs PIPELINE and then posts the run-completed event to the "
                    "Event Grid topic with the factory's managed identity. Trigger the wrapper instead of the "
                    "pipeline. With --print it is only printed (import it in Data Factory Studio yourself); "
                    "--web-activity prints the alternative: activities to append to the pipeline itself (the Web "
                    "activity, and a Fail activity per AFTER so that the run still fails when they did).")
    wrap.add_argument("--factory", required=True, metavar="RESOURCE_ID")
    wrap.add_argument("--pipeline", required=True)
    wrap.add_argument("--topic-endpoint", required=True, metavar="URL",
                      help="the topic's endpoint, https://<topic>.<region>-1.eventgrid.azure.net/api/events")
    shape = wrap.add_mutually_exclusive_group()
    shape.add_argument("--print", action="store_true",
                       help="print the wrapper pipeline instead of adding it (no sign-in needed: the wrapped "
                            "pipeline's parameters come from --pipeline-file)")
    shape.add_argument("--web-activity", nargs="+", metavar="AFTER",
                       help="print the activities to append after these (the pipeline's last) instead")
    wrap.add_argument("--pipeline-file", type=Path, metavar="FILE",
                      help="the pipeline's JSON as a Git-integrated factory keeps it (pipeline/<name>.json)")
    wrap.add_argument("--force", action="store_true", help="replace a wrapper pipeline that already exists")
    wrap.set_defaults(handler=_wrap)
    _examples(wrap, "wrap")

    doctor = commands.add_parser(
        "doctor", help="check settings, access to Data Factory, Purview and the queues, and Purview's types",
        description="Check everything the service needs and say exactly what to fix.")
    doctor.add_argument("--factory", action="append", default=[], metavar="RESOURCE_ID",
                        help="also check this factory (default: the LINEAGE_FACTORIES setting)")
    doctor.add_argument("--app", metavar="RESOURCE_ID", type=_app_id,
                        help="the Function App: check its managed identity's roles rather than your sign-in's "
                             "(default: the LINEAGE_FUNCTION_APP_ID setting)")
    doctor.add_argument("--write-probe", action="store_true",
                        help="also create and delete a probe entity in Purview, to prove write access")
    output_arguments(doctor)
    doctor.set_defaults(handler=_doctor)
    _examples(doctor, "doctor")

    prune = commands.add_parser(
        "prune", help="remove lineage a factory's current definitions no longer support (dry run unless --apply)",
        description="Compare what Purview holds under each factory (our Data Factory types only) with its current "
                    "pipelines: deleted pipelines and activities lose their entities, a Copy with a fixed sink its "
                    "operations to other sinks. Prints what would go; --apply soft-deletes it.")
    prune.add_argument("--factory", action="append", default=[], metavar="RESOURCE_ID",
                       help="a factory resource id (repeatable; default: the LINEAGE_FACTORIES setting)")
    mode = prune.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", dest="apply", action="store_false", help="only print what would go (default)")
    mode.add_argument("--apply", dest="apply", action="store_true", help="remove it, and report the counts")
    prune.add_argument("--allow-empty", action="store_true",
                       help="with --apply, also prune a factory that lists no pipeline at all (refused otherwise: a "
                            "read that looks like a factory emptied removes nothing without this)")
    output_arguments(prune)
    prune.set_defaults(handler=_prune, apply=False)
    _examples(prune, "prune")

    rules = commands.add_parser(
        "resource-sets", help="save the Purview account's resource-set rules (for the resourceSetRules setting)",
        description="Read the account's resource-set rule configuration and write it as JSON; set the file as "
                    "resourceSetRules in LINEAGE_SETTINGS so that Copy lineage names partitioned files exactly as "
                    "the account's scans group them.")
    rules.add_argument("--out", type=Path, metavar="FILE", help="write here (default: standard output)")
    rules.set_defaults(handler=_resource_sets)
    _examples(rules, "resource-sets")

    status_command.add_parser(commands, output_arguments, _moment)
    return parser


FACTORY_EXAMPLE = "/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.DataFactory/factories/<name>"
EXAMPLES = {
    "": ["python -m lineage explain samples/copy_blob_to_sql.json", "python -m lineage --local doctor",
         "python -m lineage poison list --newer-than 1d"],
    "explain": ["python -m lineage explain run.json", "python -m lineage explain samples/*.json --format mermaid",
                "python -m lineage explain run.json --config settings.json -o table"],
    "poison": ["python -m lineage poison list", "python -m lineage poison replay --all --error-class PurviewError"],
    "poison list": ["python -m lineage poison list --error-class DataFactoryError --newer-than 1d",
                    "python -m lineage poison list --factory adf1 --top 50 --json"],
    "poison show": ["python -m lineage poison show 3f2a", "python -m lineage poison show 3f2a --json"],
    "poison replay": ["python -m lineage poison replay 3f2a 9c1d",
                      "python -m lineage poison replay --all --error-class PurviewError"],
    "poison purge": ["python -m lineage poison purge 3f2a",
                     "python -m lineage poison purge --all --older-than 30d --yes"],
    "push": [f"python -m lineage push --factory {FACTORY_EXAMPLE} --run-id <run id>",
             "python -m lineage push --factory <id> --run-id <run id> --dry-run --json"],
    "save": ["python -m lineage save --factory <id> --run-id <run id> --out run.json",
             "python -m lineage explain run.json"],
    "backfill": ["python -m lineage backfill --factory <id> --since 2026-11-01 --until 2026-11-08",
                 "python -m lineage backfill --since 3d --now --json   # factories of LINEAGE_FACTORIES"],
    "wrap": ["python -m lineage wrap --factory <id> --pipeline LoadDailySales --topic-endpoint "
             "https://<topic>.<region>-1.eventgrid.azure.net/api/events",
             "python -m lineage wrap --factory <id> --pipeline LoadDailySales --topic-endpoint <url> --print "
             "--pipeline-file pipeline/LoadDailySales.json"],
    "doctor": ["python -m lineage doctor", "python -m lineage doctor --app <function app resource id> --write-probe",
               "python -m lineage doctor --factory <id> --json"],
    "resource-sets": ["python -m lineage resource-sets --out rules.json"],
    "prune": ["python -m lineage prune --factory <id>", "python -m lineage prune --factory <id> --apply --json"],
}


def _examples(parser: argparse.ArgumentParser, command: str) -> None:
    """Every command's help ends with commands to copy, as ``az`` and ``azd`` help does."""
    parser.epilog = "examples:\n" + "\n".join(f"  {line}" for line in EXAMPLES[command])
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def output_arguments(parser: argparse.ArgumentParser, default: str = "table") -> None:
    """The one output convention of every command that prints results: ``--output table|json`` (``-o``), as ``az``.

    ``--json`` stays as the short form scripts already use. ``explain`` keeps JSON as its default: its document is
    what the command is for, and the same input has always printed the same bytes.
    """
    parser.add_argument("--output", "-o", choices=("table", "json"), default=default,
                        help=f"table: for people; json: one JSON document, for scripts (default: {default})")
    parser.add_argument("--json", dest="output", action="store_const", const="json", help="the same as --output json")


def _json(args: argparse.Namespace) -> bool:
    return getattr(args, "output", "table") == "json"


def _explain(args: argparse.Namespace) -> int:
    """One document whatever the number of files: a JSON object, or one flowchart (several concatenated would be
    neither valid JSON nor valid Mermaid)."""
    options = LineageOptions.load(args.config)
    documents = [explain_file(path, options) for path in args.records]
    if args.format == "mermaid":
        merged = {(e["typeName"], e["attributes"]["qualifiedName"]): e for doc in documents for e in doc["entities"]}
        sys.stdout.write(flowchart(merged.values()))
    elif args.format == "json" or _json(args):
        sys.stdout.write(dumps(documents[0] if len(documents) == 1 else {
            "runs": [{"file": path.name, **doc} for path, doc in zip(args.records, documents, strict=True)]}))
    else:
        for path, doc in zip(args.records, documents, strict=True):
            print(f"{path.name}: {len(doc['entities'])} entities")
            for row in doc["activities"]:
                reason = f": {row['reason']}" if row.get("reason") else ""
                print(f"  {row['outcome']:8} {row['activityName']} ({row['activityType']}, "
                      f"{len(row.get('operations', []))} operations){reason}")
    return 0


def _queues() -> Queues:
    return connect_queues(os.environ)


def _credential(args: argparse.Namespace) -> TokenCredential:
    return args.credential if args.credential is not None else wiring.default_credential()


def _factories(args: argparse.Namespace) -> list[FactoryId]:
    factories = [FactoryId.parse(f) for f in args.factory] or reconcile.factories_from_setting(os.environ)
    if not factories:
        raise SettingsError("name a factory with --factory RESOURCE_ID (or set LINEAGE_FACTORIES)")
    return factories


def _push(args: argparse.Namespace) -> int:
    ref = _run_argument(args)
    worker = wiring.build_worker(_credential(args), os.environ, queues=_NoQueues())
    run = worker.reader.pipeline_run(ref.factory, ref.run_id)
    if str(run.get("status")) in NOT_ENDED:
        print(f"error: run {ref.run_id} is {run.get('status')}; push it once it has ended", file=sys.stderr)
        return EXIT_REJECTED
    if args.dry_run:
        record = RunRecord.from_json(worker.reader.run_record(ref.factory, ref.run_id, pipeline_run=run))
        lineage = extract(record, worker.options)
        catalog = worker.writer.resolve(assets_of(lineage))  # reads only: what the catalog already holds
        document = explain(lineage, worker.options.pipeline_factory_attribute, catalog)
        detail = f"{len(document['entities'])} entities would be written (nothing was written)"
        _print_processed(Processed(Outcome.SKIPPED, ref.run_id, detail, document), _json(args), outcome="dry-run")
        return 0
    message = reconcile.work_message(ref.factory, run, "push")
    processed = worker.process_run(message, run)
    _print_processed(processed, _json(args))  # what was written is said whatever the ledger answers
    try:
        worker.record(message, processed, 1)  # the run ledger says it was pushed by hand
    except LedgerError as exc:
        print(f"error: {_unrecorded(processed, exc)}", file=sys.stderr)
        return EXIT_REJECTED
    return 0


def _unrecorded(processed: Processed, exc: LedgerError) -> str:
    """A run processed (its lineage written, where pushed) whose outcome the run ledger did not take."""
    return (f"run {processed.run_id} was {processed.outcome.value}, but {errors.message(exc)}; the ledger does not "
            "show it, so a reconcile pass processes the run again (writing the same lineage again changes nothing)")


def _save(args: argparse.Namespace) -> int:
    ref = _run_argument(args)
    reader = wiring.build_reader(_credential(args), os.environ)
    doc = reader.run_record(ref.factory, ref.run_id)
    for definition in doc.get("linkedServices", {}).values():
        props = definition.get("properties") if isinstance(definition, dict) else None
        if isinstance(props, dict) and isinstance(props.get("typeProperties"), dict):
            props["typeProperties"] = visible_properties(props["typeProperties"])
    RunRecord.from_json(doc)  # what is saved is a record explain reads
    args.out.write_text(dumps(doc), encoding="utf-8")
    print(f"saved run {ref.run_id} ({len(doc.get('activityRuns', []))} activity runs) to {args.out}; "
          f"see its lineage with: python -m lineage explain {args.out}", file=sys.stderr)
    return 0


def _run_argument(args: argparse.Namespace) -> RunRef:
    try:
        return run_ref({"factoryId": args.factory, "runId": args.run_id})
    except EventError as exc:
        raise SettingsError(str(exc).replace("event data.runId", "--run-id").replace("event data", "--factory")) \
            from exc


def _print_processed(processed: Processed, as_json: bool, outcome: str | None = None) -> None:
    document = processed.document or {}
    outcome = outcome or processed.outcome.value
    if as_json:
        sys.stdout.write(dumps({"outcome": outcome, "runId": processed.run_id, "detail": processed.detail,
                                **document}))
        return
    print(f"{outcome}: run {processed.run_id}: {processed.detail}")
    for entity in document.get("entities", []):
        print(f"  {entity['typeName']:36} {entity['attributes']['qualifiedName']}")
    for row in document.get("activities", []):
        if row.get("reason"):
            print(f"  activity {row['activityName']} ({row['outcome']}): {row['reason']}")


def _backfill(args: argparse.Namespace) -> int:
    window = reconcile.Window.of(args.since, args.until)
    factories = _factories(args)
    credential = _credential(args)
    if not args.now:
        queues = _queues()
        reader = wiring.build_reader(credential, os.environ)
        with _progress("queued") as bar:
            report = reconcile.enqueue_window(reader, queues.send, factories, window, args.pipeline,
                                              source=BACKFILLED, on_run=bar.update)
        summary: dict[str, Any] = {"window": [window.after.isoformat(), window.before.isoformat()],
                                   **report.to_json()}
        failed = bool(report.failures)
    else:
        summary, failed = _backfill_now(credential, factories, window, args.pipeline, _json(args))
    if _json(args):
        sys.stdout.write(dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key}: {' to '.join(value) if key == 'window' else _text(value)}")
    if failed:
        print("error: some runs or factories failed; see failures above", file=sys.stderr)
    return EXIT_REJECTED if failed else 0


def _text(value: Any) -> str:
    """A summary's value for people: ``contoso-adf 7, other-adf 2``, not a Python dict."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {_text(v)}" if not isinstance(v, str) else f"{k}: {v}" for k, v in value.items()) \
            or "none"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    return str(value)


def _backfill_now(credential: TokenCredential, factories: list[FactoryId], window: reconcile.Window,
                  pipelines: list[str], as_json: bool) -> tuple[dict[str, Any], bool]:
    """Process every ended run of the window here; a run that fails is listed with its reason, the rest go on.
    Each run's outcome is printed as it ends (for people) and listed under ``runs`` (for scripts)."""
    worker = wiring.build_worker(credential, os.environ, queues=_NoQueues())
    report = reconcile.WindowReport()
    runs = list(reconcile.ended_runs_of(worker.reader, factories, window, pipelines, report))
    outcomes: dict[str, int] = {}
    rows: list[dict[str, str]] = []
    drifted = 0
    failures = {f"factory {name}": why for name, why in report.failures.items()}
    with _progress("processed", total=len(runs)) as bar:
        for factory, run in runs:
            row = {"runId": str(run["runId"]), "pipeline": str(run.get("pipelineName", "")),
                   "factory": factory.factory_name}
            try:
                message = reconcile.work_message(factory, run, BACKFILLED)
                processed = worker.process_run(message, run)
                outcomes[processed.outcome.value] = outcomes.get(processed.outcome.value, 0) + 1
                drifted += any(DRIFT in str(activity.get("reason", ""))
                               for activity in (processed.document or {}).get("activities", []))
                row.update(outcome=processed.outcome.value, detail=processed.detail)
                worker.record(message, processed, 1)
            except LedgerError as exc:  # processed all the same: its row says what was done, and that
                failures[f"run {run['runId']}"] = _unrecorded(processed, exc)
                row["detail"] += f" (not in the run ledger: {errors.message(exc)})"
            except (DataFactoryError, PurviewError, RunRecordError) as exc:
                failures[f"run {run['runId']}"] = f"{type(exc).__name__}: {exc}"
                row.update(outcome="failed", detail=f"{type(exc).__name__}: {exc}")
            rows.append(row)
            if not as_json:
                bar.write(f"{row['outcome']:8} run {row['runId']} ({row['pipeline']}): {row['detail']}",
                          file=sys.stdout)
            bar.update()
    summary = {"window": [window.after.isoformat(), window.before.isoformat()], "found": dict(report.found),
               "notEnded": dict(report.not_ended), "outcomes": outcomes, "failures": failures,
               "drifted": drifted}  # runs whose definitions changed since they ran: their rows say where
    if as_json:
        summary["runs"] = rows
    return summary, bool(failures)


def _wrap(args: argparse.Namespace) -> int:
    factory = FactoryId.parse(args.factory)
    args.topic_endpoint = wrap.topic_endpoint(args.topic_endpoint, os.environ)  # HTTPS, an Event Grid host
    if args.web_activity is not None:
        sys.stdout.write(dumps(wrap.end_activities(factory, args.topic_endpoint, args.web_activity)))
        return 0
    if args.pipeline_file is not None:
        pipeline = _pipeline_file(args.pipeline_file)
    elif args.print:
        pipeline = {}
        print("note: the wrapped pipeline's parameters are not passed through; give --pipeline-file to carry them",
              file=sys.stderr)
    else:
        pipeline = wiring.build_reader(_credential(args), os.environ).definition(factory, "pipelines", args.pipeline)
    wrapper = wrap.wrapper_pipeline(factory, args.pipeline, pipeline, args.topic_endpoint)
    if args.print:  # offline: nothing is read or written in the factory
        sys.stdout.write(dumps(wrapper))
        return 0
    reader = wiring.build_reader(_credential(args), os.environ)
    if not args.force:
        try:
            reader.definition(factory, "pipelines", wrapper["name"])
        except DataFactoryError as exc:
            if exc.status != 404:
                raise
        else:
            print(f"error: pipeline {wrapper['name']} already exists in {factory.factory_name}; add --force to "
                  "replace it", file=sys.stderr)
            return EXIT_REJECTED
    reader.put_pipeline(factory, wrapper["name"], {"properties": wrapper["properties"]})
    print(f"added pipeline {wrapper['name']} to {factory.factory_name}: trigger it instead of {args.pipeline}")
    print("note: in a Git-integrated factory the next publish removes pipelines added here: save the --print output "
          f"as pipeline/{wrapper['name']}.json in the collaboration branch instead (README: Subscribe)",
          file=sys.stderr)
    return 0


def _pipeline_file(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SettingsError(f"--pipeline-file {path}: not a readable JSON file") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("properties"), dict):
        raise SettingsError(f"--pipeline-file {path}: not a pipeline definition (an object with properties)")
    return doc


def _doctor(args: argparse.Namespace) -> int:
    from lineage.cli import doctor  # noqa: PLC0415 - only this command needs it

    checks = doctor.run_checks(_credential(args), os.environ, [FactoryId.parse(f) for f in args.factory],
                               app=args.app, write_probe=args.write_probe)
    if _json(args):
        sys.stdout.write(dumps({"ok": all(c.ok for c in checks), "checks": [c.to_json() for c in checks]}))
    else:
        for check in checks:
            print(check.line())
        bad = sum(not c.ok for c in checks)
        print(f"{len(checks) - bad} ok, {bad} to fix" if bad else f"all {len(checks)} checks ok")
    return 0 if all(c.ok for c in checks) else EXIT_REJECTED


def _prune(args: argparse.Namespace) -> int:
    from lineage.cli import prune  # noqa: PLC0415 - only this command needs it

    reports, failures = prune.run(_credential(args), os.environ, _factories(args), apply=args.apply,
                                  allow_empty=args.allow_empty)
    if _json(args):
        sys.stdout.write(dumps({"factories": [r.to_json() for r in reports], "failures": failures}))
    else:
        sys.stdout.write(prune.table(reports))
    for factory, why in failures.items():
        print(f"error: {factory}: {why}", file=sys.stderr)
    return EXIT_REJECTED if failures or any(r.failed for r in reports) else 0


def _resource_sets(args: argparse.Namespace) -> int:
    writer = PurviewWriter(_credential(args), wiring.purview_endpoint(os.environ), max_attempts=2)
    config = writer.resource_set_config()
    rules = ResourceSetRules.from_config(config)  # refuse to save what the product could not use
    text = dumps(config)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        print(f"saved {len(rules.summary()['regexReplacers'])} replacers to {args.out}; set "
              f'"resourceSetRules": "{args.out}" in LINEAGE_SETTINGS', file=sys.stderr)
    return 0


class _NoQueues:
    """``push`` and ``backfill --now`` never wait or poison: they report instead of queueing."""

    def send(self, text: str, visibility_timeout: int = 0) -> None:
        raise RuntimeError("a synchronous push does not queue messages")

    def send_poison(self, text: str) -> None:
        raise RuntimeError("a synchronous push does not write poison messages")

    def poison_receipt(self, message_id: str, pop_receipt: str) -> None:
        return None  # it cannot tell: an envelope the ledger names is taken to be there


def _progress(unit: str, total: int | None = None) -> Any:
    from tqdm import tqdm  # noqa: PLC0415 - only long commands show progress

    return tqdm(total=total, unit=" runs", desc=unit, file=sys.stderr, disable=None, leave=False)


TIME_FORMS = "an ISO time or date (2026-11-01T08:00Z, 2026-11-01) or an age (90m, 12h, 3d, 2w; a bare number is days)"


def _moment(text: str) -> datetime:
    """A point in time, in every form a time option takes: an ISO time or date (UTC unless it says otherwise), or
    an age before now (``90m``, ``12h``, ``3d``, ``2w``, or a number of days)."""
    text = text.strip()
    units = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    number, unit = (text[:-1], units[text[-1]]) if text[-1:] in units else (text, "days")
    try:
        value = float(number)
    except ValueError:
        value = None
    if value is not None:
        if not math.isfinite(value) or value < 0:
            raise argparse.ArgumentTypeError(f"{text!r}: an age is a positive number ({TIME_FORMS})")
        try:
            return datetime.now(UTC) - timedelta(**{unit: value})
        except OverflowError as exc:
            raise argparse.ArgumentTypeError(f"{text!r} reaches before year 1") from exc
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not {TIME_FORMS}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _selection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--factory", metavar="ID_OR_NAME", help="only this factory's runs (resource id or name)")
    parser.add_argument("--error-class", metavar="CLASS", help="only this error class (DataFactoryError, ...)")
    parser.add_argument("--older-than", type=_age, metavar="WHEN",
                        help="only messages older than this: an age (90m, 12h, 3d) or an ISO time, as --since takes")
    parser.add_argument("--newer-than", type=_age, metavar="WHEN",
                        help="only messages newer than this: an age (90m, 12h, 3d) or an ISO time, as --since takes")


def _selection(args: argparse.Namespace, ids: list[str] | None = None) -> poison_queue.Selection:
    return poison_queue.Selection(
        ids=frozenset(ids) if ids else None, factory=args.factory, error_class=args.error_class,
        older_than=args.older_than, newer_than=args.newer_than)


def _poison_list(args: argparse.Namespace) -> int:
    queues = _queues()
    browsed = poison_queue.browse(queues, _selection(args), args.top)
    items = [item.displayed() for item in browsed.items]  # never print what a body held unmasked
    partial = "" if browsed.complete else (
        " among the first 32 (reading past them needs Storage Queue Data Message Processor or Contributor)")
    if _json(args):
        sys.stdout.write(dumps({"count": len(items), "complete": browsed.complete,
                                "messages": [i.to_json() for i in items]}))
        return 0
    print(f"{len(items)} message(s) in {queues.poison.queue_name}{partial}" + (
        " (filtered)" if any((args.factory, args.error_class, args.older_than, args.newer_than, args.top)) else ""))
    for item in items:
        age = item.age()
        age_text = f"{age.days}d{age.seconds // 3600:02d}h" if age else "?"
        print(f"{item.id}  {age_text:>7}  run {item.envelope.run_id or '-':36}  "
              f"{item.envelope.error_class}: {item.envelope.reason[:100]}")
    return 0


def _poison_show(args: argparse.Namespace) -> int:
    [item] = poison_queue.browse(_queues(), poison_queue.Selection(ids=frozenset({args.id}))).items
    shown = item.displayed().to_json()
    if _json(args):
        sys.stdout.write(dumps(shown))
        return 0
    for key in ("id", "insertedOn", "runId", "factory", "errorClass", "reason", "attempts", "firstSeen",
                "lastFailure"):
        print(f"{key + ':':13} {'-' if shown.get(key) in (None, '') else shown[key]}")
    print(f"message:\n{shown['message']}")
    return 0


def _poison_replay(args: argparse.Namespace) -> int:
    """Each message's outcome as it is replayed (a long ``--all`` shows progress), then the count."""
    as_json = _json(args)
    with _progress("replayed") as bar:
        def told(item: poison_queue.PoisonItem, outcome: str) -> None:
            if not as_json:
                bar.write(f"{item.id}  run {item.envelope.run_id or '-':36}  {outcome}", file=sys.stdout)
            bar.update()

        done = poison_queue.replay(_queues(), _selection(args, None if args.all else args.ids),
                                   wiring.connect_ledger(os.environ), told)
    if as_json:
        sys.stdout.write(dumps({"replayed": [{"id": i.id, "runId": i.envelope.run_id, "outcome": outcome}
                                             for i, outcome in done]}))
    else:
        print(f"replayed {sum(o.startswith('queued') for _, o in done)} of {len(done)} "
              "message(s); the worker processes them as they come")
    return EXIT_REJECTED if any(o.startswith("not") or poison_queue.LEDGER_NOT_UPDATED in o for _, o in done) else 0


def _poison_purge(args: argparse.Namespace) -> int:
    queues = _queues()
    selection = _selection(args, None if args.all else args.ids)
    if selection.ids is None and not args.yes:
        many = len(poison_queue.browse(queues, selection).items)
        if not sys.stdin.isatty():
            print(f"error: this would delete {many} message(s); add --yes to confirm", file=sys.stderr)
            return EXIT_REJECTED
        if input(f"delete {many} message(s) from {queues.poison.queue_name}? [y/N] ").strip().lower() not in ("y",
                                                                                                           "yes"):
            print("nothing deleted")
            return 0
    done = poison_queue.purge(queues, selection, wiring.connect_ledger(os.environ))
    if _json(args):
        sys.stdout.write(dumps({"purged": [i.id for i, _ in done]}))
    else:
        print(f"purged {len(done)} message(s)")
    for item, outcome in done:
        if poison_queue.LEDGER_NOT_UPDATED in outcome:
            print(f"warning: {item.id} run {item.envelope.run_id}: {outcome}", file=sys.stderr)
    return EXIT_REJECTED if any(poison_queue.LEDGER_NOT_UPDATED in o for _, o in done) else 0


def _age(text: str) -> timedelta:
    """How long ago, from any form ``--since`` takes (an age, or the ISO time it was)."""
    age = datetime.now(UTC) - _moment(text)
    if age < timedelta(0):
        raise argparse.ArgumentTypeError(f"{text!r} is in the future")
    return age


def _app_id(text: str) -> str:
    from lineage.cli import app_identity  # noqa: PLC0415 - only doctor needs it

    try:
        return app_identity.app_id(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def explain_file(path: Path, options: LineageOptions) -> dict[str, Any]:
    """The explain document of one run-record file."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise RunRecordError(f"{path}: not a readable file ({exc.strerror or exc})") from exc
    try:
        record = RunRecord.from_text(text)  # any JSON that cannot be read back (huge integers too) is refused
    except RunRecordError as exc:
        raise RunRecordError(f"{path}: {exc}") from exc
    document = explain(extract(record, options), options.pipeline_factory_attribute)
    if options.collections.named():  # a mapping is set: say where this run's lineage goes (null: the root)
        document["collection"] = options.collections.collection_for(record.factory)
    return document


def dumps(doc: Any) -> str:
    """Stable JSON (sorted keys, fixed indentation), so the same input always prints the same bytes."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
