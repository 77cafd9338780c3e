// adf-purview-lineage: everything the Function App needs, identity-only (no key, no connection string anywhere).
//
// Deployed by `azd up` (azure.yaml) or by hand with `az deployment group create` (infra/README.md). The Event Grid
// subscription to `on_run_completed` is NOT here: Event Grid validates an AzureFunction endpoint when the subscription
// is created, so the function must exist first; infra/hooks/postdeploy.sh deploys infra/subscription.bicep after the
// code. Purview's Data Curator role is a Purview collection role, not an Azure role: the same hook grants it.
targetScope = 'resourceGroup'

@minLength(1)
@maxLength(64)
@description('Name of the environment (azd): part of every resource name, so that two environments can share a resource group.')
param environmentName string

@minLength(1)
@description('Region of every resource; it must offer the Flex Consumption plan.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string = resourceGroup().location

@minLength(3)
@description('Name of the Purview account the lineage is written to (PURVIEW_ACCOUNT_NAME).')
param purviewAccountName string

@description('Full Atlas v2 base URL of the Purview account (PURVIEW_ENDPOINT), for accounts on the tenant-level endpoint (https://api.purview-service.microsoft.com/catalog/api/atlas/v2); empty: the account endpoint of purviewAccountName.')
param purviewEndpoint string = ''

@description('Resource ids of the Data Factories whose runs are recorded (/subscriptions/<s>/resourceGroups/<rg>/providers/Microsoft.DataFactory/factories/<f>). They may live in other resource groups or subscriptions of the tenant; each needs a system-assigned identity.')
param factoryIds array = []

@description('Lineage settings (the LINEAGE_SETTINGS app setting, JSON text; see "Settings" in the main README). Empty: the contents of infra/lineage-settings.json.')
param lineageSettings string = ''

@description('NCRONTAB schedule of the reconcile_runs timer (LINEAGE_RECONCILE_SCHEDULE).')
param reconcileSchedule string = '0 */15 * * * *'

@minValue(1)
@description('How far back reconcile_runs looks for ended runs, in minutes (LINEAGE_RECONCILE_WINDOW_MINUTES).')
param reconcileWindowMinutes int = 120

@allowed([
  'off'
  'dry-run'
  'apply'
])
@description('What the prune_lineage timer does (LINEAGE_PRUNE): off, log what it would remove, or remove it.')
param pruneMode string = 'off'

@description('NCRONTAB schedule of the prune_lineage timer (LINEAGE_PRUNE_SCHEDULE); it does nothing while pruneMode is off.')
param pruneSchedule string = '0 30 3 * * *'

@minValue(1)
@maxValue(3650)
@description('Days a run stays in the run ledger after its last change (LINEAGE_LEDGER_RETENTION_DAYS); the reconcile timer sweeps older rows once a day.')
param ledgerRetentionDays int = 90

@description('Object id of the person (or pipeline) running the deployment, for `python -m lineage poison ...` and `doctor` against the queues; empty: grant nothing.')
param principalId string = ''

@description('Object ids of operators who only look at the poison queue (`python -m lineage poison list/show`): Storage Queue Data Reader on that queue alone, nothing else. Those who replay or purge need Storage Queue Data Contributor (as principalId gets).')
param poisonReaderIds array = []

@description('E-mail address alerted when a run is poisoned or an event is dead-lettered. No default, so `azd up` asks for it: with none the alerts would fire without notifying anyone (an explicit empty value still means exactly that).')
param alertEmail string

@minValue(40)
@maxValue(1000)
@description('Flex Consumption: most instances the app scales out to; Flex Consumption takes no fewer than 40, and the limit applies per function group (the queue trigger scales on its own). Purview accepts ~25 writes/s per capacity unit: more instances only queue behind it.')
param maximumInstanceCount int = 40

@allowed([
  2048
  4096
])
@description('Flex Consumption: memory of each instance, in MB.')
param instanceMemoryMB int = 2048

var tags = {
  'azd-env-name': environmentName
  application: 'adf-purview-lineage'
}
var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))

// Names the code and the templates agree on (lineage/azure/queues.py, lineage/service/poison.py, subscription.bicep).
var deploymentContainerName = 'app-package'
var deadLetterContainerName = 'eventgrid-deadletter'
// The Functions host's own blob containers (AzureWebJobsStorage): timer and queue-listener leases, host locks
// (azure-webjobs-hosts) and function keys (azure-webjobs-secrets). Declared here so that the app's blob role can be
// granted on them, and on the deployment container, instead of on the whole account.
var hostContainerNames = [
  'azure-webjobs-hosts'
  'azure-webjobs-secrets'
]

// Kept in a file beside the templates so that JSON never has to pass through environment variables and shell quoting.
var lineageSettingsJson = empty(lineageSettings) ? loadTextContent('lineage-settings.json') : lineageSettings

// environment().resourceManager ends with '/'; DATAFACTORY_ENDPOINT takes the base URL without it.
var armEndpoint = environment().resourceManager
var dataFactoryEndpoint = endsWith(armEndpoint, '/') ? substring(armEndpoint, 0, length(armEndpoint) - 1) : armEndpoint

// Built-in role definition ids (the same in every tenant).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageQueueDataReader: '19e7f393-937e-4f77-808e-94535e297925'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  eventGridDataSender: 'd5a91429-5739-47e2-a06b-3470a27159e7'
}

// ---------------------------------------------------------------------------------------------------------------------
// Storage: the Functions host's own storage, the work and poison queues, the deployment packages, dead-lettered events.
// ---------------------------------------------------------------------------------------------------------------------

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'st${token}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deadLetterContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource hostContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for name in hostContainerNames: {
  parent: blobService
  name: name
  properties: {
    publicAccess: 'None'
  }
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource workQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: 'adf-lineage-runs'
}

// The Functions host would create it on first use; declared so that the alert and `python -m lineage poison` find it
// from the start. Its name is the work queue's name + '-poison' (the host's convention, which the code follows).
resource poisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: 'adf-lineage-runs-poison'
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// The run ledger (lineage/azure/ledger.py): one row per pipeline run, and the reconcile timer's checkpoints.
resource ledgerTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: 'lineageruns'
}

// ---------------------------------------------------------------------------------------------------------------------
// Monitoring: Log Analytics + Application Insights, written to by identity only (local auth off).
// ---------------------------------------------------------------------------------------------------------------------

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${token}'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${token}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// The Function App: Flex Consumption (FC1), Linux, Python 3.11, system-assigned identity.
// ---------------------------------------------------------------------------------------------------------------------

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${token}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: 'func-lineage-${token}'
  location: location
  tags: union(tags, {
    'azd-service-name': 'lineage'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// Every setting the code reads (lineage/service/wiring.py, lineage/azure/queues.py, lineage/service/reconcile.py, function_app.py), plus
// the host's own. tests/test_infra.py cross-checks this list against the code.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: {
    // The Functions host's storage (triggers, leases, keys), by the app's identity: no AzureWebJobsStorage
    // connection string. A system-assigned identity needs no AzureWebJobsStorage__credential.
    AzureWebJobsStorage__accountName: storage.name
    // What our own code reads (lineage/service/wiring.py connect_queues); the host accepts it too.
    AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
    // The run ledger's table (lineage/service/wiring.py connect_ledger), in the same account.
    AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
    LINEAGE_LEDGER_TABLE: ledgerTable.name
    LINEAGE_LEDGER_RETENTION_DAYS: string(ledgerRetentionDays)
    // Not a secret: an ingestion endpoint and instrumentation key; with local auth off, only an Entra token
    // (APPLICATIONINSIGHTS_AUTHENTICATION_STRING) can write to it.
    APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'
    LINEAGE_QUEUE_NAME: workQueue.name
    PURVIEW_ACCOUNT_NAME: purviewAccountName
    PURVIEW_ENDPOINT: purviewEndpoint // empty: PURVIEW_ACCOUNT_NAME's endpoint (lineage/service/wiring.py)
    DATAFACTORY_ENDPOINT: dataFactoryEndpoint
    LINEAGE_SETTINGS: lineageSettingsJson
    LINEAGE_MAX_DEQUEUE_COUNT: '5' // = host.json extensions.queues.maxDequeueCount
    LINEAGE_MAX_WAITS: '12'
    LINEAGE_WAIT_SECONDS: '30'
    LINEAGE_FACTORIES: string(factoryIds)
    LINEAGE_RECONCILE_SCHEDULE: reconcileSchedule
    LINEAGE_RECONCILE_WINDOW_MINUTES: string(reconcileWindowMinutes)
    LINEAGE_PRUNE: pruneMode
    LINEAGE_PRUNE_SCHEDULE: pruneSchedule
  }
}

// No publishing user name and password: azd and the Azure CLI deploy with an Entra token.
resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Event Grid custom topic the factories post run-completed events to. Entra-only publishing; its own identity
// writes dead-lettered events to the storage account (deadLetterWithResourceIdentity in subscription.bicep).
// ---------------------------------------------------------------------------------------------------------------------

resource topic 'Microsoft.EventGrid/topics@2025-02-15' = {
  name: 'evgt-lineage-${token}'
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    inputSchema: 'EventGridSchema'
    disableLocalAuth: true
    // Publishers (the factories' Web activities) must speak TLS 1.2 or later; the default also allows 1.0 and 1.1.
    minimumTlsVersionAllowed: '1.2'
    // Reachable from the internet: Data Factory's Azure integration runtime posts from outside any network of ours.
    // Only an Entra token with EventGrid Data Sender on this topic can publish (no keys); see infra/README.md.
    publicNetworkAccess: 'Enabled'
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Role assignments in this resource group. Names are guid(scope, principal, role): deterministic, so a redeploy
// updates nothing and never duplicates.
// ---------------------------------------------------------------------------------------------------------------------

// The host keeps function keys and timer/queue leases in its own blob containers; Flex Consumption reads the
// package from the deployment container with the same identity. Owner (not Contributor) is what the Functions runtime
// documents for AzureWebJobsStorage by identity, granted on those three containers only: the app cannot read or
// write any other blob of the account (the dead-lettered events among them).
resource appDeploymentBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deploymentContainer.id, functionApp.id, roles.storageBlobDataOwner)
  scope: deploymentContainer
  properties: {
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
  }
}

resource appHostBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in hostContainerNames: {
  name: guid(hostContainers[i].id, functionApp.id, roles.storageBlobDataOwner)
  scope: hostContainers[i]
  properties: {
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
  }
}]

// The queue trigger, the output bindings and our own sends (work and poison queues). Storage Queue Data Message
// Processor (peek, receive, delete) and Message Sender (add) are subsets of Contributor; Contributor alone, not the
// two, because the two together still cannot create a queue (the host creates <queue>-poison on demand,
// lineage/azure/queues.py creates a missing queue) nor update a message (the host releases a failed message with its
// visibility timeout; `python -m lineage poison` updates messages).
resource appQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionApp.id, roles.storageQueueDataContributor)
  scope: storage
  properties: {
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
  }
}

// The run ledger: read and write the rows of its one table, nothing else of the account (the deployment creates it).
resource appTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(ledgerTable.id, functionApp.id, roles.storageTableDataContributor)
  scope: ledgerTable
  properties: {
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
  }
}

// Telemetry with local auth off: APPLICATIONINSIGHTS_AUTHENTICATION_STRING=Authorization=AAD needs this role.
resource appMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, functionApp.id, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}

// The topic's identity writes dead-lettered events, to that one container only.
resource topicDeadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deadLetterContainer.id, topic.id, roles.storageBlobDataContributor)
  scope: deadLetterContainer
  properties: {
    principalId: topic.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
  }
}

// The operator's sign-in for `python -m lineage poison ...` (list, show, replay, purge) and `doctor`.
resource operatorQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(storage.id, principalId, roles.storageQueueDataContributor)
  scope: storage
  properties: {
    principalId: principalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
  }
}

// The operator's `python -m lineage status`, and the run ledger rows `poison replay/purge` update.
resource operatorTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(ledgerTable.id, principalId, roles.storageTableDataContributor)
  scope: ledgerTable
  properties: {
    principalId: principalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
  }
}

// Operators who only look: `python -m lineage poison list/show` peek at the poison queue and read its message count.
// Storage Queue Data Reader on that one queue; they can neither take a message off it nor read the work queue.
resource poisonReaders 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for reader in poisonReaderIds: {
  name: guid(poisonQueue.id, reader, roles.storageQueueDataReader)
  scope: poisonQueue
  properties: {
    principalId: reader
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataReader)
  }
}]

// ---------------------------------------------------------------------------------------------------------------------
// The factories: a read-only custom role for the app on each factory, and EventGrid Data Sender on the topic for each
// factory's identity. A factory may live in another resource group or subscription, so the work on it happens in a
// module deployed to the factory's own resource group.
// ---------------------------------------------------------------------------------------------------------------------

// The custom role is defined once, in this subscription, and made assignable in every subscription that holds one of
// the factories (they may be in others). Assignable scopes only say where it may be assigned; the app is granted it on
// each factory resource and nowhere else.
var readerRoleGuid = guid(subscription().id, resourceGroup().id, environmentName, 'adf-lineage-factory-reader')
var factorySubscriptions = map(factoryIds, id => '/subscriptions/${split(id, '/')[2]}')

module readerRole 'modules/factory-reader-role.bicep' = if (!empty(factoryIds)) {
  name: 'lineage-factory-reader-role-${token}'
  scope: subscription()
  params: {
    roleGuid: readerRoleGuid
    roleName: 'ADF lineage reader (${environmentName}, ${resourceGroup().name})'
    assignableScopes: union([subscription().id], factorySubscriptions)
  }
}

module factoryAccess 'modules/factory-access.bicep' = [for (factoryId, i) in factoryIds: {
  name: 'lineage-factory-${i}-${token}'
  scope: resourceGroup(split(factoryId, '/')[2], split(factoryId, '/')[4])
  params: {
    factoryName: last(split(factoryId, '/'))
    appPrincipalId: functionApp.identity.principalId
    readerRoleGuid: readerRoleGuid
  }
  dependsOn: [
    readerRole
  ]
}]

// Each factory's Web activity posts its run-completed event to the topic with its managed identity.
resource factoryEventSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (factoryId, i) in factoryIds: {
  name: guid(topic.id, factoryId, roles.eventGridDataSender)
  scope: topic
  properties: {
    principalId: factoryAccess[i].outputs.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventGridDataSender)
  }
}]

// ---------------------------------------------------------------------------------------------------------------------
// Alerts.
//
// Poisoned runs: a log alert on Application Insights `traces`, NOT a metric alert on the poison queue. The storage
// metric QueueMessageCount is account-wide (queueServices has no per-queue dimension), so it would count the work
// queue's ordinary backlog too and fire on every busy hour. The traces are exact: the worker (logger lineage.service.worker)
// logs every poison envelope at ERROR as "message poisoned (<errorClass>): <reason>", the event handler (logger
// lineage.service.wiring) logs every rejected event at ERROR as "event <id> rejected: <reason>", and the Functions host
// names the poison queue when it moves a message there itself.
// ---------------------------------------------------------------------------------------------------------------------

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: 'ag-lineage-${token}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'lineage'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

resource poisonedAlert 'Microsoft.Insights/scheduledQueryRules@2022-06-15' = {
  name: 'alert-lineage-poisoned-${token}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'adf-purview-lineage: runs poisoned'
    description: 'A run or event went to the poison queue adf-lineage-runs-poison. See why with: python -m lineage poison list'
    severity: 2
    enabled: true
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    scopes: [
      appInsights.id
    ]
    criteria: {
      allOf: [
        {
          query: '''
traces
| where (severityLevel >= 3 and (message startswith "message poisoned (" or message contains_cs " rejected: "))
    or message contains_cs "adf-lineage-runs-poison"
| project timestamp, message, operation_Name
'''
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: empty(alertEmail) ? [] : [
        actionGroup!.id
      ]
    }
  }
}

// Events Event Grid gave up on (30 attempts or 24 h) land in the eventgrid-deadletter container; this metric is
// per topic, so a metric alert is exact here.
resource deadLetteredAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-lineage-deadlettered-${token}'
  location: 'global'
  tags: tags
  properties: {
    description: 'Event Grid dead-lettered run-completed events into the eventgrid-deadletter container.'
    severity: 2
    enabled: true
    scopes: [
      topic.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          name: 'deadLettered'
          criterionType: 'StaticThresholdCriterion'
          metricNamespace: 'Microsoft.EventGrid/topics'
          metricName: 'DeadLetteredCount'
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    autoMitigate: false
    actions: empty(alertEmail) ? [] : [
      {
        actionGroupId: actionGroup!.id
      }
    ]
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Outputs: azd stores them in the environment (.azure/<env>/.env), where infra/hooks/postdeploy.sh and the
// `python -m lineage ...` commands find them.
// ---------------------------------------------------------------------------------------------------------------------

output AZURE_LOCATION string = location
output AZURE_FUNCTION_APP_NAME string = functionApp.name
output FUNCTION_APP_PRINCIPAL_ID string = functionApp.identity.principalId
output STORAGE_ACCOUNT_NAME string = storage.name
output DEAD_LETTER_CONTAINER_NAME string = deadLetterContainer.name
output EVENTGRID_TOPIC_NAME string = topic.name
output EVENTGRID_TOPIC_ENDPOINT string = topic.properties.endpoint
output PURVIEW_ACCOUNT_NAME string = purviewAccountName
output LINEAGE_QUEUE_NAME string = workQueue.name
output AzureWebJobsStorage__queueServiceUri string = storage.properties.primaryEndpoints.queue
output APPLICATIONINSIGHTS_NAME string = appInsights.name
// What `python -m lineage doctor` reads after `eval "$(azd env get-values)"` (infra/README.md, 7): the app itself,
// so that its identity's roles are checked rather than the operator's, and the settings it is given by their names.
output LINEAGE_FUNCTION_APP_ID string = functionApp.id
output LINEAGE_FACTORIES string = string(factoryIds)
output LINEAGE_RECONCILE_SCHEDULE string = reconcileSchedule
output DATAFACTORY_ENDPOINT string = dataFactoryEndpoint
