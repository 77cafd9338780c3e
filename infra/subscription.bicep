// The Event Grid subscription that delivers run-completed events to the on_run_completed function.
//
// Deployed by infra/hooks/postdeploy.sh AFTER the code: Event Grid checks an AzureFunction endpoint when the
// subscription is created, and the function exists only once the app's code is deployed and indexed.
//   az deployment group create -g <rg> -f infra/subscription.bicep \
//     -p topicName=<topic> functionAppName=<app> storageAccountName=<storage>
targetScope = 'resourceGroup'

@description('Name of the Event Grid custom topic (main.bicep output EVENTGRID_TOPIC_NAME).')
param topicName string

@description('Name of the Function App (main.bicep output AZURE_FUNCTION_APP_NAME).')
param functionAppName string

@description('Name of the app\'s storage account, which holds the dead-letter container (output STORAGE_ACCOUNT_NAME).')
param storageAccountName string

@description('Blob container for events Event Grid gives up on (output DEAD_LETTER_CONTAINER_NAME).')
param deadLetterContainerName string = 'eventgrid-deadletter'

resource topic 'Microsoft.EventGrid/topics@2022-06-15' existing = {
  name: topicName
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource runCompleted 'Microsoft.EventGrid/topics/eventSubscriptions@2022-06-15' = {
  parent: topic
  name: 'on-run-completed'
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionApp.id}/functions/on_run_completed'
        // One event per call: with a batch, one failure makes Event Grid re-send the whole batch.
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Lineage.DataFactory.PipelineRunCompleted'
      ]
    }
    // Event Grid's maximum: 30 attempts within 24 hours, then the dead-letter container; no event is dropped.
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    // Written by the topic's own identity (Storage Blob Data Contributor on the container, granted in main.bicep):
    // no storage key.
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: storage.id
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output eventSubscriptionName string = runCompleted.name
