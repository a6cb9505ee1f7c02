// NexusArchive on Azure: a Flex Consumption Function App (.NET 10 isolated) with a managed identity,
// storage without shared keys, Application Insights on Log Analytics, Key Vault references for both
// connection strings, and alerts for failed runs, archive lag and verify gaps. Deploy with `azd up` or
// `az deployment group create -g <rg> -f infra/main.bicep -p infra/main.bicepparam`.
targetScope = 'resourceGroup'

@minLength(1)
@maxLength(20)
@description('Environment name (azd AZURE_ENV_NAME); part of every resource name.')
param environmentName string

@description('Azure region of every resource.')
param location string = resourceGroup().location

@description('Six-field NCRONTAB schedule of the archive timer (app setting ArchiveSchedule).')
param archiveSchedule string = '0 */5 * * * *'

@description('Six-field NCRONTAB schedule of the incremental verify timer ArchiveVerifyTimer (app setting VerifySchedule); hourly at minute 15 by default.')
param verifySchedule string = '0 15 * * * *'

@description('Six-field NCRONTAB schedule of the offload timer ArchiveOffloadTimer (app setting OffloadSchedule); daily at 03:30 UTC by default. The timer removes nothing unless offloadEnabled is true.')
param offloadSchedule string = '0 30 3 * * *'

@description('Archive:Offload:Enabled: let the offload timer remove sessions idle for Archive:Offload:After (30 days) from Redis; they then live only in the archive until restored. Off by default: removing data from Redis is an operator\'s decision.')
param offloadEnabled bool = false

@description('Storage queue of record events that ArchiveQueuedRecords archives (app setting ArchiveQueueName); the host moves a message it cannot process to <name>-poison.')
param archiveQueueName string = 'nexus-archive-records'

@description('Storage queue of the fan-out over shards (app setting ArchiveShardQueueName): when an entity is sharded the archive timer enqueues one message per change stream with work and ArchiveShardPass works each, scaling out on the queue.')
param archiveShardQueueName string = 'nexus-archive-shards'

@description('Object id of the principal NexusChat enqueues record events with (its app\'s managed identity); granted Storage Queue Data Message Sender on the archive queue only. Empty = grant nobody.')
param eventSenderPrincipalId string = ''

@description('Archive:TimeBudget: a pass stops between pages after this long; keep it below functionTimeout (host.json, 00:10:00).')
param archiveTimeBudget string = '00:08:00'

@description('Archive:KeyPrefix: prefix of the NexusChat keys in Redis.')
param keyPrefix string = 'nexus'

@description('Sign in to PostgreSQL with the app\'s managed identity (Archive:PostgresUseManagedIdentity); the connection string then names the Entra user and no password.')
param postgresUseManagedIdentity bool = false

@secure()
@description('Redis connection string (StackExchange.Redis format or rediss:// URL). Stored in Key Vault; leave empty to set the secret yourself.')
param redisConnectionString string = ''

@secure()
@description('Npgsql connection string. Stored in Key Vault; leave empty to set the secret yourself.')
param postgresConnectionString string = ''

@minValue(40)
@maxValue(1000)
@description('Flex Consumption: most instances the app scales out to.')
param maximumInstanceCount int = 40

@allowed([512, 2048, 4096])
@description('Flex Consumption: memory per instance (MB).')
param instanceMemoryMB int = 2048

@description('Alert when the archive lags Redis by more than this many minutes.')
param lagAlertMinutes int = 30

@description('E-mail address that alerts go to; empty = alerts fire without notifying anyone.')
param alertEmail string = ''

var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = {
  'azd-env-name': environmentName
  app: 'nexus-archive'
}
var deploymentContainerName = 'app-package'
var redisSecretName = 'redis-connection-string'
var postgresSecretName = 'postgres-connection-string'

// Built-in role definition ids.
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageQueueDataMessageSender: 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${environmentName}-${token}'
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
  name: 'appi-${environmentName}-${token}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
  }
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: take('st${replace(environmentName, '-', '')}${token}', 24)
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// Event-driven archiving: the app enqueues {"entity","id"} after a write; ArchiveQueuedRecords archives it in seconds.
resource archiveQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: archiveQueueName
}

// Created here (the host would create it on first use) so an alert and an operator can watch it from day one.
resource archivePoisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: '${archiveQueueName}-poison'
}

// Fan-out over shards: the archive timer's queue output and ArchiveShardPass's trigger (the app's own identity only).
resource archiveShardQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: archiveShardQueueName
}

resource archiveShardPoisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: '${archiveShardQueueName}-poison'
}

// NexusChat's identity may only add messages to the archive queue: no read, no delete, no other queue, no shared key.
resource eventSenderRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(eventSenderPrincipalId)) {
  name: guid(archiveQueue.id, eventSenderPrincipalId, roles.storageQueueDataMessageSender)
  scope: archiveQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataMessageSender)
    principalId: eventSenderPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: take('kv-${environmentName}-${token}', 24)
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    enablePurgeProtection: true
  }
}

resource redisSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(redisConnectionString)) {
  parent: keyVault
  name: redisSecretName
  properties: {
    value: redisConnectionString
  }
}

resource postgresSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(postgresConnectionString)) {
  parent: keyVault
  name: postgresSecretName
  properties: {
    value: postgresConnectionString
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${environmentName}-${token}'
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
  name: 'func-${environmentName}-${token}'
  location: location
  tags: union(tags, {
    'azd-service-name': 'functions'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: 'SystemAssigned'
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
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
        name: 'dotnet-isolated'
        version: '10.0'
      }
    }
  }
}

// App settings in their own resource so they apply after the role assignments the Key Vault references need.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: {
    AzureWebJobsStorage__accountName: storage.name
    AzureWebJobsStorage__credential: 'managedidentity'
    APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
    ArchiveSchedule: archiveSchedule
    VerifySchedule: verifySchedule
    OffloadSchedule: offloadSchedule
    // The queue trigger's connection by managed identity (Storage Queue Data Contributor above: read, delete, poison).
    ArchiveQueueName: archiveQueueName
    ArchiveShardQueueName: archiveShardQueue.name
    ArchiveQueue__queueServiceUri: storage.properties.primaryEndpoints.queue
    ArchiveQueue__credential: 'managedidentity'
    ConnectionStrings__Redis: '@Microsoft.KeyVault(VaultName=${keyVault.name};SecretName=${redisSecretName})'
    ConnectionStrings__Postgres: '@Microsoft.KeyVault(VaultName=${keyVault.name};SecretName=${postgresSecretName})'
    Archive__KeyPrefix: keyPrefix
    Archive__TimeBudget: archiveTimeBudget
    Archive__MigrateOnStartup: 'false'
    Archive__PostgresUseManagedIdentity: string(postgresUseManagedIdentity)
    Archive__Offload__Enabled: string(offloadEnabled)
  }
  dependsOn: [
    storageRoleAssignments
    keyVaultSecretsUser
    redisSecret
    postgresSecret
  ]
}

resource storageRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in [roles.storageBlobDataOwner, roles.storageQueueDataContributor, roles.storageTableDataContributor]: {
    name: guid(storage.id, functionApp.id, role)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
      principalId: functionApp.identity.principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource keyVaultSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(keyVault.id, functionApp.id, roles.keyVaultSecretsUser)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, functionApp.id, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: 'ag-${environmentName}-${token}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'nexusarch'
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

var alertActions = empty(alertEmail) ? [] : [actionGroup.id]

// RunFinished (EventId 1001) is written by Core at the end of every pass; the worker's Application Insights
// logger puts EventName and every named value (Status, MaxLagMs, …) into customDimensions.
resource failedRunAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${environmentName}-archive-failed'
  location: location
  tags: tags
  properties: {
    displayName: 'NexusArchive: archive run failed'
    description: 'An archive pass ended with status Failed (RunFinished event). Committed pages stay committed; see the run\'s error in /api/archive/status.'
    severity: 1
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'traces | where tostring(customDimensions.EventName) == "RunFinished" and tostring(customDimensions.Status) == "Failed"'
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
    autoMitigate: true
    actions: {
      actionGroups: alertActions
    }
  }
}

// ArchiveScheduleInvalid (2003), StartupMigrationFailed (2005), NeedsAttention (2006), VerifyScheduleInvalid (2007) and
// OffloadScheduleInvalid (2008) (and ShardQueueInvalid, 2065: no fan-out over shards) come from the Functions worker when it runs but cannot archive, verify or offload on
// schedule (a schedule the host refused, migrations that failed at start-up).
resource startupProblemAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${environmentName}-archive-startup-problem'
  location: location
  tags: tags
  properties: {
    displayName: 'NexusArchive: needs attention (bad ArchiveSchedule, VerifySchedule or OffloadSchedule, or failed start-up migration)'
    description: 'The Functions worker runs, but scheduled archiving, verification or offload is off or migrations failed; GET /api/archive/status answers 503 with the problem.'
    severity: 1
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'traces | where tostring(customDimensions.EventName) in ("ArchiveScheduleInvalid", "StartupMigrationFailed", "NeedsAttention", "VerifyScheduleInvalid", "OffloadScheduleInvalid", "ShardQueueInvalid")'
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
    autoMitigate: true
    actions: {
      actionGroups: alertActions
    }
  }
}

// VerificationFinished (3002) ends every verification the worker runs: the scheduled incremental verify (ArchiveVerifyTimer)
// and GET /api/archive/verify. Lag cannot see a record the change index never had; this can. Gaps are records due but
// not archived, differences archived records whose content differs from Redis (a plain HSET around the writer shows
// here); both are data the archive does not hold. A verification that failed checks nothing, so it alerts too.
resource verifyGapsAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${environmentName}-archive-verify-gaps'
  location: location
  tags: tags
  properties: {
    displayName: 'NexusArchive: verify found gaps or differences (or failed)'
    description: 'A verification ended with Gaps > 0 or Differences > 0 (VerificationFinished event; ExampleIds names records), or with Status Failed. Runbook: docs/operations.md, "When the scheduled verify alerts".'
    severity: 1
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT1H'
    criteria: {
      allOf: [
        {
          query: 'traces | where tostring(customDimensions.EventName) == "VerificationFinished" | extend Gaps = tolong(customDimensions.Gaps), Differences = tolong(customDimensions.Differences), Status = tostring(customDimensions.Status) | where Gaps > 0 or Differences > 0 or Status == "Failed"'
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
    autoMitigate: true
    actions: {
      actionGroups: alertActions
    }
  }
}

resource lagAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${environmentName}-archive-lag'
  location: location
  tags: tags
  properties: {
    displayName: 'NexusArchive: archive lag above ${lagAlertMinutes} min'
    description: 'The newest pass ended with its checkpoint more than ${lagAlertMinutes} minutes behind Redis (MaxLagMs of the RunFinished event), or no pass finished at all.'
    severity: 2
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT30M'
    criteria: {
      allOf: [
        {
          query: 'traces | where tostring(customDimensions.EventName) == "RunFinished" | extend MaxLagMs = todouble(customDimensions.MaxLagMs) | where MaxLagMs > ${lagAlertMinutes * 60000}'
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
    autoMitigate: true
    actions: {
      actionGroups: alertActions
    }
  }
}

output AZURE_LOCATION string = location
output AZURE_FUNCTION_APP_NAME string = functionApp.name
output AZURE_KEY_VAULT_NAME string = keyVault.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.name
output APPLICATIONINSIGHTS_NAME string = appInsights.name
output ARCHIVE_QUEUE_URL string = '${storage.properties.primaryEndpoints.queue}${archiveQueue.name}'
output FUNCTION_APP_URL string = 'https://${functionApp.properties.defaultHostName}'
