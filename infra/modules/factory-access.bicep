// Deployed to one factory's resource group (main.bicep scopes it there): grants the Function App the lineage reader
// role on that factory alone, and returns the factory's own managed identity for EventGrid Data Sender on the topic.
targetScope = 'resourceGroup'

@description('Name of the Data Factory (last segment of its resource id).')
param factoryName string

@description('Object id of the Function App\'s system-assigned identity.')
param appPrincipalId string

@description('Name (GUID) of the custom role defined by factory-reader-role.bicep.')
param readerRoleGuid string

resource factory 'Microsoft.DataFactory/factories@2018-06-01' existing = {
  name: factoryName
}

resource appReadsFactory 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(factory.id, appPrincipalId, readerRoleGuid)
  scope: factory
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    // Resolved in the factory's subscription: a custom role is visible at every scope it is assignable at.
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRoleGuid)
  }
}

@description('Object id of the factory\'s system-assigned identity (the factory must have one).')
output principalId string = factory.identity.principalId
