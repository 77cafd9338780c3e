// The least-privilege custom role the Function App holds on each Data Factory: read the definitions a run refers to,
// read runs, query activity runs (the built-in Reader cannot: queryActivityruns is a POST action) and query pipeline
// runs (reconcile_runs). Nothing that writes: the optional wrapper-pipeline installer runs as the person installing
// it, not as the app.
targetScope = 'subscription'

@description('Name (a GUID) of the role definition; the same on every redeploy.')
param roleGuid string

@description('Display name of the role; unique in the tenant.')
param roleName string

@description('Scopes the role may be assigned at.')
param assignableScopes array

resource readerRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: roleGuid
  properties: {
    roleName: roleName
    description: 'adf-purview-lineage: read Data Factory definitions and runs to record their lineage in Purview.'
    type: 'CustomRole'
    assignableScopes: assignableScopes
    permissions: [
      {
        actions: [
          'Microsoft.DataFactory/factories/read'
          'Microsoft.DataFactory/factories/pipelines/read'
          'Microsoft.DataFactory/factories/datasets/read'
          'Microsoft.DataFactory/factories/linkedservices/read'
          'Microsoft.DataFactory/factories/dataflows/read'
          'Microsoft.DataFactory/factories/globalParameters/read'
          'Microsoft.DataFactory/factories/pipelineruns/read'
          'Microsoft.DataFactory/factories/pipelineruns/queryactivityruns/action'
          'Microsoft.DataFactory/factories/querypipelineruns/action'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

output roleGuid string = readerRole.name
