"""The Function App: four triggers, each a few lines handing off to ``lineage``.

- ``on_run_completed`` (Event Grid): validates a run-completed event and queues a small work message; an event that
  can never be processed goes to the poison queue with its reason instead.
- ``push_lineage`` (queue): reads the run back from Data Factory, extracts its lineage, pushes it to Purview.
- ``reconcile_runs`` (timer): queues the runs that ended recently, so a run whose event was lost still gets lineage.
- ``prune_lineage`` (timer): removes lineage the factories' current definitions no longer support; does nothing
  unless ``LINEAGE_PRUNE`` is ``dry-run`` or ``apply``.
"""

import azure.functions as func

from lineage.service import wiring

app = func.FunctionApp()

QUEUE = "%LINEAGE_QUEUE_NAME%"
STORAGE = "AzureWebJobsStorage"


@app.function_name("on_run_completed")
@app.event_grid_trigger(arg_name="event")
@app.queue_output(arg_name="work", queue_name=QUEUE, connection=STORAGE)
def on_run_completed(event: func.EventGridEvent, work: func.Out[str]) -> None:
    accepted = wiring.accept(event)  # a rejected event's envelope is sent by accept, with no expiry
    if accepted.work is not None:
        work.set(accepted.work)


@app.function_name("push_lineage")
@app.queue_trigger(arg_name="msg", queue_name=QUEUE, connection=STORAGE)
def push_lineage(msg: func.QueueMessage) -> None:
    first_seen = msg.insertion_time.isoformat() if msg.insertion_time else None
    wiring.worker().handle(msg.get_body().decode("utf-8", "replace"), msg.dequeue_count or 1, first_seen)


@app.function_name("reconcile_runs")
@app.timer_trigger(arg_name="timer", schedule="%LINEAGE_RECONCILE_SCHEDULE%")
def reconcile_runs(timer: func.TimerRequest) -> None:
    wiring.reconcile(past_due=bool(timer and timer.past_due))


@app.function_name("prune_lineage")
@app.timer_trigger(arg_name="timer", schedule="%LINEAGE_PRUNE_SCHEDULE%")
def prune_lineage(timer: func.TimerRequest) -> None:
    wiring.prune()
