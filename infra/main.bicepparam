using './main.bicep'

// azd fills AZURE_ENV_NAME / AZURE_LOCATION; the connection strings come from the environment so no secret is committed.
param environmentName = readEnvironmentVariable('AZURE_ENV_NAME', 'nexus-archive')
param location = readEnvironmentVariable('AZURE_LOCATION', 'westeurope')
param archiveSchedule = readEnvironmentVariable('NEXUS_ARCHIVE_SCHEDULE', '0 */5 * * * *')
param verifySchedule = readEnvironmentVariable('NEXUS_VERIFY_SCHEDULE', '0 15 * * * *')
param offloadSchedule = readEnvironmentVariable('NEXUS_OFFLOAD_SCHEDULE', '0 30 3 * * *')
param offloadEnabled = bool(readEnvironmentVariable('NEXUS_OFFLOAD_ENABLED', 'false'))
param redisConnectionString = readEnvironmentVariable('NEXUS_REDIS_CONNECTION_STRING', '')
param postgresConnectionString = readEnvironmentVariable('NEXUS_POSTGRES_CONNECTION_STRING', '')
param postgresUseManagedIdentity = bool(readEnvironmentVariable('NEXUS_POSTGRES_USE_MANAGED_IDENTITY', 'false'))
param alertEmail = readEnvironmentVariable('NEXUS_ALERT_EMAIL', '')
param archiveQueueName = readEnvironmentVariable('NEXUS_ARCHIVE_QUEUE_NAME', 'nexus-archive-records')
param eventSenderPrincipalId = readEnvironmentVariable('NEXUS_EVENT_SENDER_PRINCIPAL_ID', '')
