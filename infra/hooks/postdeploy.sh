#!/bin/sh
# azd post-deploy hook (azure.yaml), also runnable by hand with the same variables set:
#   1. subscribes on_run_completed to the Event Grid topic (infra/subscription.bicep); only possible once the code is
#      deployed, because Event Grid checks that the function exists;
#   2. makes the Function App's identity a Purview Data Curator of each collection the lineage settings' collections
#      mapping names (infra/lineage-settings.json) and of each in PURVIEW_COLLECTION (names, comma-separated),
#      through the metadata-policy API (infra/hooks/grant_purview_curator.py). Not the root collection unless named
#      or mapped: Data Curator there can edit every asset of the account.
# Both steps are idempotent. Set SKIP_PURVIEW_GRANT=true to leave step 2 to a Purview collection admin.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

need() {
  eval "value=\${$1:-}"
  if [ -z "$value" ]; then
    echo "postdeploy: $1 is not set (azd sets it from infra/main.bicep's outputs; by hand, export it)" >&2
    exit 1
  fi
}
need AZURE_RESOURCE_GROUP
need EVENTGRID_TOPIC_NAME
need AZURE_FUNCTION_APP_NAME
need STORAGE_ACCOUNT_NAME
need FUNCTION_APP_PRINCIPAL_ID
need PURVIEW_ACCOUNT_NAME

if [ -n "${AZURE_SUBSCRIPTION_ID:-}" ]; then
  set -- --subscription "$AZURE_SUBSCRIPTION_ID"
else
  set --
fi

# 1. The event subscription. Right after a deployment the function may not be indexed yet: Event Grid then refuses
#    the endpoint, so try again for a few minutes.
attempts=${SUBSCRIPTION_ATTEMPTS:-10}
attempt=1
while :; do
  if az deployment group create "$@" \
      --name lineage-event-subscription \
      --resource-group "$AZURE_RESOURCE_GROUP" \
      --template-file "$root/infra/subscription.bicep" \
      --parameters topicName="$EVENTGRID_TOPIC_NAME" \
                   functionAppName="$AZURE_FUNCTION_APP_NAME" \
                   storageAccountName="$STORAGE_ACCOUNT_NAME" \
                   deadLetterContainerName="${DEAD_LETTER_CONTAINER_NAME:-eventgrid-deadletter}" \
      --only-show-errors --output none; then
    echo "postdeploy: on_run_completed is subscribed to topic $EVENTGRID_TOPIC_NAME"
    break
  fi
  if [ "$attempt" -ge "$attempts" ]; then
    echo "postdeploy: could not create the event subscription after $attempts attempts; see infra/README.md" >&2
    exit 1
  fi
  echo "postdeploy: event subscription not created yet (attempt $attempt of $attempts); retrying in 30 s" >&2
  attempt=$((attempt + 1))
  sleep 30
done

# 2. Purview Data Curator for the app's identity.
if [ "${SKIP_PURVIEW_GRANT:-}" = "true" ]; then
  echo "postdeploy: SKIP_PURVIEW_GRANT=true: grant Data Curator to $FUNCTION_APP_PRINCIPAL_ID yourself (infra/README.md)"
  exit 0
fi
if [ -n "${HOOK_PYTHON:-}" ]; then
  python=$HOOK_PYTHON
elif [ -x "$root/.venv/bin/python" ]; then
  python="$root/.venv/bin/python"
else
  python=python3
fi
# Every collection the lineage settings map factories to (infra/lineage-settings.json, deployed as LINEAGE_SETTINGS).
"$python" "$here/grant_purview_curator.py" \
  --account "$PURVIEW_ACCOUNT_NAME" \
  --settings "${LINEAGE_SETTINGS_FILE:-$root/infra/lineage-settings.json}" \
  --object-id "$FUNCTION_APP_PRINCIPAL_ID"
collections=${PURVIEW_COLLECTION:-}
if [ -z "$collections" ]; then
  echo "postdeploy: PURVIEW_COLLECTION is not set: no Purview role granted beyond the collections the lineage" \
       "settings map. Set it to further collection(s) the lineage is written to (azd env set PURVIEW_COLLECTION" \
       "<name>[,<name>...]; the root collection is named like the account) and run azd hooks run postdeploy, or" \
       "grant Data Curator yourself (infra/README.md)" >&2
  exit 0
fi
old_ifs=$IFS
IFS=,
for collection in $collections; do
  IFS=$old_ifs
  collection=$(printf '%s' "$collection" | tr -d ' ')
  [ -n "$collection" ] || continue
  "$python" "$here/grant_purview_curator.py" \
    --account "$PURVIEW_ACCOUNT_NAME" \
    --collection "$collection" \
    --object-id "$FUNCTION_APP_PRINCIPAL_ID"
done
IFS=$old_ifs
