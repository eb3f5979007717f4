using System.Text;
using ZeroCloud.Cluster.Store;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Cluster.Api;

/// <summary>Turns the JSON form of a transaction into a <see cref="KvTxn"/>, or says what is wrong with it and where.</summary>
public static class TxnMapper
{
    public static KvTxn? ToTxn(TxnRequest request, out string problem)
    {
        problem = "";
        var compares = new List<Compare>();
        var list = request.Compare ?? [];
        for (var i = 0; i < list.Count; i++)
        {
            var c = list[i];
            var where = $"compare[{i}]";
            if (c is null || c.Key is null || c.Target is null || c.Result is null)
            {
                problem = $"{where}: needs \"key\", \"target\" and \"result\"";
                return null;
            }

            CompareTarget? target = c.Target switch
            {
                "mod" => CompareTarget.ModRevision,
                "create" => CompareTarget.CreateRevision,
                "version" => CompareTarget.Version,
                "value" => CompareTarget.Value,
                _ => null,
            };
            CompareOp? op = c.Result switch
            {
                "=" or "==" => CompareOp.Equal,
                "!=" => CompareOp.NotEqual,
                "<" => CompareOp.Less,
                ">" => CompareOp.Greater,
                _ => null,
            };
            if (target is null)
            {
                problem = $"{where}.target: \"{c.Target}\" is not one of mod, create, version, value";
                return null;
            }

            if (op is null)
            {
                problem = $"{where}.result: \"{c.Result}\" is not one of =, !=, <, >";
                return null;
            }

            if (target == CompareTarget.Value)
            {
                if (c.Value is null || c.Number is not null)
                {
                    problem = $"{where}: a value comparison takes \"value\" (a string), not \"number\"";
                    return null;
                }
            }
            else if (c.Number is null || c.Value is not null)
            {
                problem = $"{where}: a {c.Target} comparison takes \"number\", not \"value\"";
                return null;
            }

            compares.Add(new Compare(c.Key, target.Value, op.Value, c.Number ?? 0, c.Value is null ? null : Encoding.UTF8.GetBytes(c.Value)));
        }

        if (Ops(request.Success, "success", out problem) is not { } success || Ops(request.Failure, "failure", out problem) is not { } failure)
        {
            return null;
        }

        if (success.Count == 0 && failure.Count == 0 && compares.Count == 0)
        {
            problem = "the transaction is empty: give \"compare\", \"success\" or \"failure\"";
            return null;
        }

        var txn = new KvTxn(compares, success, failure);
        if (KvStore.Validate(txn) is { } invalid)
        {
            problem = invalid;
            return null;
        }

        return txn;
    }

    private static List<KvOp>? Ops(IReadOnlyList<OpDto>? list, string name, out string problem)
    {
        problem = "";
        var ops = new List<KvOp>();
        list ??= [];
        for (var i = 0; i < list.Count; i++)
        {
            var o = list[i];
            var where = $"{name}[{i}]";
            if (o is null || o.Key is null)
            {
                problem = $"{where}: needs \"op\" and \"key\"";
                return null;
            }

            switch (o.Op)
            {
                case "put" when o.Value is null:
                    problem = $"{where}: a put needs \"value\" (a string)";
                    return null;
                case "put" when o.Prefix:
                    problem = $"{where}: \"prefix\" applies to delete only";
                    return null;
                case "put":
                    ops.Add(new PutOp(o.Key, Encoding.UTF8.GetBytes(o.Value)));
                    break;
                case "delete" when o.Value is not null:
                    problem = $"{where}: a delete takes no \"value\"";
                    return null;
                case "delete":
                    ops.Add(new DeleteOp(o.Key, o.Prefix));
                    break;
                default:
                    problem = $"{where}.op: \"{o.Op}\" is not put or delete";
                    return null;
            }
        }

        return ops;
    }
}
