using System.Globalization;

namespace ZeroCloud.Model.Http;

/// <summary>One satisfiable byte range, inclusive.</summary>
public readonly record struct ByteRange(long First, long Last)
{
    public long Length => Last - First + 1;
}

/// <summary>RFC 9110 §14 byte ranges: <c>bytes=0-0</c>, <c>bytes=-1</c>, <c>bytes=100-</c>, lists of them.</summary>
public static class RangeHeader
{
    public enum Outcome
    {
        /// <summary>No usable Range header (absent, not bytes, or malformed): send the whole file.</summary>
        Whole,

        /// <summary>At least one satisfiable range.</summary>
        Partial,

        /// <summary>Well-formed, but no range overlaps the file: 416.</summary>
        Unsatisfiable,
    }

    public static Outcome Parse(string? header, long size, out List<ByteRange> ranges)
    {
        ranges = [];
        if (string.IsNullOrWhiteSpace(header) || !header.StartsWith("bytes=", StringComparison.OrdinalIgnoreCase))
        {
            return Outcome.Whole;
        }

        foreach (var part in header[6..].Split(','))
        {
            var spec = part.Trim();
            var dash = spec.IndexOf('-', StringComparison.Ordinal);
            if (dash < 0)
            {
                return Outcome.Whole;
            }

            var firstText = spec[..dash].Trim();
            var lastText = spec[(dash + 1)..].Trim();
            if (firstText.Length == 0)
            {
                // Suffix range: the last N bytes.
                if (!long.TryParse(lastText, NumberStyles.None, CultureInfo.InvariantCulture, out var suffix))
                {
                    return Outcome.Whole;
                }

                if (suffix > 0 && size > 0)
                {
                    ranges.Add(new ByteRange(Math.Max(0, size - suffix), size - 1));
                }

                continue;
            }

            if (!long.TryParse(firstText, NumberStyles.None, CultureInfo.InvariantCulture, out var first))
            {
                return Outcome.Whole;
            }

            long last;
            if (lastText.Length == 0)
            {
                last = size - 1;
            }
            else if (!long.TryParse(lastText, NumberStyles.None, CultureInfo.InvariantCulture, out last) || last < first)
            {
                return Outcome.Whole;
            }

            if (first < size)
            {
                ranges.Add(new ByteRange(first, Math.Min(last, size - 1)));
            }
        }

        return ranges.Count > 0 ? Outcome.Partial : Outcome.Unsatisfiable;
    }
}

/// <summary>
/// How to answer a GET or HEAD of a body of <c>size</c> bytes for its Range header (RFC 9110 §14): the status, the
/// headers, and the parts to send in order, each a byte range of the body and, in a multipart/byteranges answer, the
/// part's header before it and the closing boundary after the last. Shared by every server that sends ranges.
/// </summary>
public sealed record RangedResponse(int Status, string? ContentType, long? ContentLength, string? ContentRange, IReadOnlyList<(ByteRange Range, byte[]? Header)> Parts, byte[]? Closing)
{
    public static RangedResponse For(string? rangeHeader, long size, string contentType)
    {
        switch (RangeHeader.Parse(rangeHeader, size, out var ranges))
        {
            case RangeHeader.Outcome.Unsatisfiable:
                return new RangedResponse(416, null, null, $"bytes */{size}", [], null);
            case RangeHeader.Outcome.Partial when ranges.Count == 1:
                return new RangedResponse(206, contentType, ranges[0].Length, $"bytes {ranges[0].First}-{ranges[0].Last}/{size}", [(ranges[0], null)], null);
            case RangeHeader.Outcome.Partial:
                {
                    var boundary = "zc-" + Guid.NewGuid().ToString("N");
                    var parts = ranges.Select(r => (r, (byte[]?)System.Text.Encoding.ASCII.GetBytes($"\r\n--{boundary}\r\nContent-Type: {contentType}\r\nContent-Range: bytes {r.First}-{r.Last}/{size}\r\n\r\n"))).ToList();
                    var closing = System.Text.Encoding.ASCII.GetBytes($"\r\n--{boundary}--\r\n");
                    return new RangedResponse(206, $"multipart/byteranges; boundary={boundary}", parts.Sum(p => p.Item2!.Length + p.r.Length) + closing.Length, null, parts, closing);
                }

            default:
                return new RangedResponse(200, contentType, size, null, size > 0 ? [(new ByteRange(0, size - 1), null)] : [], null);
        }
    }
}
