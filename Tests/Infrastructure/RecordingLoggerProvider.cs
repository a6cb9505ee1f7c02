using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace NexusArchive.Tests.Infrastructure;

/// <summary>One log record as a provider received it (after the logger factory's filters).</summary>
internal sealed record LogRecord(string Category, LogLevel Level, int EventId, string? EventName, string Message);

/// <summary>Keeps every record the logging filters let through, for tests that count or read log events.</summary>
internal sealed class RecordingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<LogRecord> _records = new();

    public IReadOnlyList<LogRecord> Records => [.. _records];

    public ILogger CreateLogger(string categoryName) => new RecordingLogger(this, categoryName);

    public void Clear() => _records.Clear();

    public void Dispose()
    {
    }

    private sealed class RecordingLogger(RecordingLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            provider._records.Enqueue(new LogRecord(category, logLevel, eventId.Id, eventId.Name, formatter(state, exception)));
    }
}
