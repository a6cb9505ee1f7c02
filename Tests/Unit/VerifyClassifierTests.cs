using NexusArchive.Core.Verification;

namespace NexusArchive.Tests.Unit;

public sealed class VerifyClassifierTests
{
    private static readonly byte[] s_a = [1];
    private static readonly byte[] s_b = [2];

    private static RecordFacts Facts(
        bool inPg = true, byte[]? redis = null, byte[]? pg = null, long? redisUs = 10, long? pgUs = 10, bool indexed = true, bool due = true, bool deadLettered = false) =>
        new(inPg, redis ?? s_a, inPg ? pg ?? s_a : null, redisUs, inPg ? pgUs : null, indexed, due, deadLettered);

    [Fact]
    public void Classify_SameHash_IsEqualEvenWhenUnindexedOrNotDue() =>
        Assert.Equal(VerifyCategory.Equal, VerifyClassifier.Classify(Facts(indexed: false, due: false, deadLettered: true)));

    [Fact]
    public void Classify_DueAndNotInPostgres_IsGap() =>
        Assert.Equal(VerifyCategory.Gap, VerifyClassifier.Classify(Facts(inPg: false)));

    [Fact]
    public void Classify_NotDueAndNotInPostgres_IsPending() =>
        Assert.Equal(VerifyCategory.Pending, VerifyClassifier.Classify(Facts(inPg: false, due: false)));

    [Fact]
    public void Classify_NewerInRedisNotDue_IsPending() =>
        Assert.Equal(VerifyCategory.Pending, VerifyClassifier.Classify(Facts(pg: s_b, redisUs: 20, due: false)));

    [Fact]
    public void Classify_NewerInRedisDue_IsPostgresOlder() =>
        Assert.Equal(VerifyCategory.PostgresOlder, VerifyClassifier.Classify(Facts(pg: s_b, redisUs: 20)));

    [Fact]
    public void Classify_NewerInPostgres_IsPostgresNewerEvenWhenNotDue() =>
        Assert.Equal(VerifyCategory.PostgresNewer, VerifyClassifier.Classify(Facts(pg: s_b, pgUs: 20, due: false)));

    [Fact]
    public void Classify_SameVersionDifferentContent_IsContentDiffers() =>
        Assert.Equal(VerifyCategory.ContentDiffers, VerifyClassifier.Classify(Facts(pg: s_b)));

    [Fact]
    public void Classify_DeadLettered_WinsOverGapAndDifference()
    {
        Assert.Equal(VerifyCategory.DeadLettered, VerifyClassifier.Classify(Facts(inPg: false, deadLettered: true)));
        Assert.Equal(VerifyCategory.DeadLettered, VerifyClassifier.Classify(Facts(pg: s_b, redisUs: 20, deadLettered: true)));
    }

    [Fact]
    public void Classify_NoIndexEntryAndNotArchived_IsUnindexed() =>
        Assert.Equal(VerifyCategory.Unindexed, VerifyClassifier.Classify(Facts(inPg: false, indexed: false, due: false)));

    [Fact]
    public void Classify_UnmappableDueNotDeadLettered_IsGap() =>
        Assert.Equal(VerifyCategory.Gap, VerifyClassifier.Classify(new RecordFacts(true, null, s_a, null, 10, Indexed: true, Due: true, DeadLettered: false)));

    [Fact]
    public void Report_GapsAndDifferences_DecideOk()
    {
        var result = new EntityVerifyResult { Entity = "message" };
        result.Add(VerifyCategory.Equal, "a", 5);
        result.Add(VerifyCategory.Pending, "b", 5);
        result.Add(VerifyCategory.OnlyInPostgres, "c", 5);
        result.Add(VerifyCategory.DeadLettered, "d", 5);
        var report = new VerifyReport { RedisNow = DateTimeOffset.UnixEpoch, Scope = ArchiveScope.All, Entities = [result] };
        Assert.True(report.Ok);
        Assert.False(result.Samples.ContainsKey(VerifyCategory.Equal));

        result.Add(VerifyCategory.Unindexed, "e", 5);
        Assert.False(report.Ok);
        Assert.Equal(1, report.Gaps);
        Assert.Equal(["e"], result.Samples[VerifyCategory.Unindexed]);
    }
}
