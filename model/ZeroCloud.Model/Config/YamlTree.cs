using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace ZeroCloud.Model.Config;

/// <summary>
/// A YAML node with its position. Built from YamlDotNet's parser events rather than its
/// representation model so that duplicate keys, aliases and extra documents become
/// diagnostics instead of exceptions, and every scalar keeps its source text untouched
/// (an unquoted MAC such as 52:54:00:00:00:01 stays a string, not a YAML 1.1 base-60 number).
/// </summary>
internal abstract class YNode
{
    protected YNode(TextPosition start) => Start = start;

    public TextPosition Start { get; }

    /// <summary>How the node is named in messages: "a string", "a list", "a mapping".</summary>
    public abstract string Describe();
}

internal sealed class YScalar : YNode
{
    public YScalar(TextPosition start, string value, ScalarStyle style) : base(start)
    {
        Value = value;
        Style = style;
    }

    public string Value { get; }

    public ScalarStyle Style { get; }

    public bool IsQuoted => Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted;

    /// <summary>YAML's null: an empty plain scalar, <c>~</c> or <c>null</c>.</summary>
    public bool IsNull => Style == ScalarStyle.Plain && Value is "" or "~" or "null" or "Null" or "NULL";

    public override string Describe() => IsNull ? "nothing (null)" : IsQuoted ? $"the string \"{Value}\"" : $"\"{Value}\"";
}

internal sealed class YSequence : YNode
{
    public YSequence(TextPosition start, IReadOnlyList<YNode> items) : base(start) => Items = items;

    public IReadOnlyList<YNode> Items { get; }

    public override string Describe() => "a list";
}

internal sealed class YMapping : YNode
{
    public YMapping(TextPosition start, IReadOnlyList<KeyValuePair<YNode, YNode>> entries) : base(start) => Entries = entries;

    public IReadOnlyList<KeyValuePair<YNode, YNode>> Entries { get; }

    public override string Describe() => "a mapping";
}

/// <summary>Reads one YAML document into a <see cref="YNode"/> tree, reporting what is not a single document.</summary>
internal static class YamlTree
{
    internal static TextPosition Pos(Mark mark) => new((int)Math.Min(mark.Line, int.MaxValue), (int)Math.Min(mark.Column, int.MaxValue));

    /// <summary>
    /// Parses <paramref name="text"/>. Returns the root node of the first document, or null when the file holds
    /// no document or is not valid YAML; the reasons are added to <paramref name="errors"/> as (position, message).
    /// </summary>
    public static YNode? Parse(string text, List<(TextPosition Position, string Message)> errors)
    {
        var anchors = new Dictionary<string, YNode>(StringComparer.Ordinal);
        var parser = new Parser(new StringReader(text));
        YNode? root = null;
        var documents = 0;
        try
        {
            parser.Consume<StreamStart>();
            while (parser.TryConsume<DocumentStart>(out var docStart))
            {
                documents++;
                if (documents == 2)
                {
                    errors.Add((Pos(docStart.Start), "a second YAML document: a cluster.yaml holds exactly one; remove the '---' and what follows, or put it in its own file"));
                }

                var node = ReadNode(parser, anchors);
                parser.Consume<DocumentEnd>();
                root ??= node;
            }

            parser.Consume<StreamEnd>();
        }
        catch (YamlException ex)
        {
            var message = ex.Message;
            // YamlDotNet prefixes some messages with "(Line: 3, Col: 1, Idx: 12) - (Line: ...): "; the position is printed separately.
            var cut = message.LastIndexOf("): ", StringComparison.Ordinal);
            if (message.StartsWith("(Line:", StringComparison.Ordinal) && cut > 0)
            {
                message = message[(cut + 3)..];
            }

            errors.Add((Pos(ex.Start), $"not valid YAML: {message.TrimEnd('.')}"));
            return null;
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            // YamlDotNet 18.1 throws these instead of a YamlException for some malformed input: an unclosed
            // flow mapping inside a block mapping ("a:\n  {b: c\nd: e") or a tag that is not a URI ("!!a]b").
            // The last event it produced is the best position there is.
            var at = parser.Current is { } last ? Pos(last.Start) : new TextPosition(1, 1);
            var detail = ex is ArgumentException { ParamName: { } name } arg ? arg.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal) : "an unclosed '{', '[' or quote?";
            errors.Add((at, $"not valid YAML: the parser failed after this point ({detail.TrimEnd('.')})"));
            return null;
        }

        return root;
    }

    private static YNode ReadNode(IParser parser, Dictionary<string, YNode> anchors)
    {
        var current = parser.Current ?? throw new YamlException("unexpected end of the document");
        YNode node;
        string? anchor = null;
        switch (current)
        {
            case AnchorAlias alias:
                parser.MoveNext();
                if (!anchors.TryGetValue(alias.Value.Value, out var target))
                {
                    throw new SemanticErrorException(alias.Start, alias.End, $"alias *{alias.Value} refers to no anchor &{alias.Value} defined before it");
                }

                return target;
            case Scalar scalar:
                parser.MoveNext();
                node = new YScalar(Pos(scalar.Start), scalar.Value, scalar.Style);
                anchor = scalar.Anchor.IsEmpty ? null : scalar.Anchor.Value;
                break;
            case SequenceStart seq:
                {
                    parser.MoveNext();
                    var items = new List<YNode>();
                    while (!parser.TryConsume<SequenceEnd>(out _))
                    {
                        items.Add(ReadNode(parser, anchors));
                    }

                    node = new YSequence(Pos(seq.Start), items);
                    anchor = seq.Anchor.IsEmpty ? null : seq.Anchor.Value;
                    break;
                }

            case MappingStart map:
                {
                    parser.MoveNext();
                    var entries = new List<KeyValuePair<YNode, YNode>>();
                    while (!parser.TryConsume<MappingEnd>(out _))
                    {
                        var key = ReadNode(parser, anchors);
                        var value = ReadNode(parser, anchors);
                        entries.Add(new(key, value));
                    }

                    node = new YMapping(Pos(map.Start), entries);
                    anchor = map.Anchor.IsEmpty ? null : map.Anchor.Value;
                    break;
                }

            default:
                throw new SemanticErrorException(current.Start, current.End, $"unexpected {current.GetType().Name}");
        }

        if (anchor is not null)
        {
            anchors[anchor] = node;
        }

        return node;
    }
}
