using NexusArchive.Cli;
using Npgsql;

namespace NexusArchive.Tests.Unit;

/// <summary>Every CLI command maps its exceptions to an exit code in one place (CliHost.ExitCodeFor), redacted.</summary>
public sealed class CliExitCodeTests
{
    [Fact]
    public void ArgumentException_IsExit2InTheCallersWords()
    {
        var exit = CliHost.ExitCodeFor(new ArgumentException("Unknown entity 'reaction'.", "names"));

        Assert.Equal((CliHost.ExitConfiguration, "Unknown entity 'reaction'."), exit);
    }

    [Fact]
    public void ConnectionFailure_IsExit1NamingTheSettingNeverThePassword()
    {
        var exit = CliHost.ExitCodeFor(new NpgsqlException("Failed to connect to 127.0.0.1:5442", new System.Net.Sockets.SocketException(111)));

        Assert.NotNull(exit);
        Assert.Equal(CliHost.ExitFailed, exit.Value.Code);
        Assert.Contains("ConnectionStrings:Postgres", exit.Value.Message, StringComparison.Ordinal);
        Assert.Contains("127.0.0.1:5442", exit.Value.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Password", exit.Value.Message, StringComparison.OrdinalIgnoreCase);
    }
}
