using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Hosting;
using NexusArchive.Functions;

// The composition lives in FunctionsHost.Configure so tests build the very same host.
var builder = FunctionsApplication.CreateBuilder(args);
FunctionsHost.Configure(builder);
builder.Build().Run();
