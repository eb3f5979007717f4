using System.CommandLine;

namespace ZeroCloud.Cli;

/// <summary>
/// <c>zc lab reboot &lt;server&gt;</c>: the reset button of a virtual bare server of <c>zc up</c>. Its processes are
/// killed, what it held in RAM (its data folder: until nodes have disks everything is in RAM) is gone, and its firmware
/// starts again: it PXE-boots whatever node image the cluster serves now.
/// </summary>
internal static class LabCommand
{
    /// <summary><c>zc lab machine</c> (hidden): what zc up starts in a QEMU server's namespace (<see cref="Up.LabVm"/>).</summary>
    private static Command Machine()
    {
        var name = new Option<string>("--name") { Required = true };
        var mac = new Option<string>("--mac") { Required = true };
        var firmware = new Option<string>("--firmware") { Required = true };
        var dir = new Option<string>("--dir") { Required = true };
        var bmc = new Option<string>("--bmc");
        var prefix = new Option<int>("--prefix") { DefaultValueFactory = _ => 24 };
        var credentials = new Option<string>("--bmc-credentials");
        var machine = new Command("machine", "Run one QEMU machine of the lab with its BMC (zc up --vm starts these).") { Hidden = true };
        foreach (var o in new Option[] { name, mac, firmware, dir, bmc, prefix, credentials })
        {
            machine.Options.Add(o);
        }

        machine.SetAction((parse, ct) => Up.LabVm.RunAsync(
            parse.GetValue(name)!, parse.GetValue(mac)!, parse.GetValue(firmware)!, parse.GetValue(dir)!, parse.GetValue(bmc), parse.GetValue(prefix), parse.GetValue(credentials), parse.InvocationConfiguration.Output, ct));
        return machine;
    }

    public static Command Build()
    {
        var lab = new Command("lab", "The virtual bare servers of zc up's lab on this machine.");
        var server = new Argument<string>("server") { Description = "The virtual server (s001, s002, ...; zc get nodes shows which node it became)." };
        var reboot = new Command("reboot", "Reset a virtual server: kill it, clear its RAM (its data folder) and let its firmware PXE-boot again.") { server };
        reboot.SetAction(async (parse, ct) =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            var labs = Lab.All();
            if (labs.Count != 1)
            {
                await stderr.WriteLineAsync(labs.Count == 0 ? "zc lab: no lab runs on this machine (zc up)" : $"zc lab: {labs.Count} labs run on this machine; zc down the others").ConfigureAwait(false);
                return ZcCommand.Failed;
            }

            var state = labs[0];
            var id = parse.GetValue(server)!;
            if (state.Servers.FirstOrDefault(s => s.Id == id) is not { } target)
            {
                await stderr.WriteLineAsync($"zc lab: the lab of cluster {state.Cluster} has no server {id} (it has {string.Join(", ", state.Servers.Select(s => s.Id))})").ConfigureAwait(false);
                return ZcCommand.UsageError;
            }

            var (_, pids) = await Lab.RunAsync("ip", ["netns", "pids", target.Namespace]).ConfigureAwait(false);
            var killed = pids.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
            if (killed.Count > 0)
            {
                await Lab.RunAsync("kill", ["-9", .. killed]).ConfigureAwait(false);
            }

            var data = Path.Combine(target.Directory, "node");
            for (var i = 0; i < 50 && Directory.Exists(data); i++)
            {
                try
                {
                    Directory.Delete(data, recursive: true);
                }
                catch (IOException)
                {
                    await Task.Delay(100, ct).ConfigureAwait(false); // its processes are still going
                }
            }

            await UpCommand.PowerOnAsync(state, target).ConfigureAwait(false);
            await stdout.WriteLineAsync($"zc lab: {id} reset ({killed.Count} processes killed, its RAM cleared) and powered on; it PXE-boots again (zc get nodes)").ConfigureAwait(false);
            return ZcCommand.Ok;
        });
        lab.Subcommands.Add(reboot);
        lab.Subcommands.Add(Machine());
        return lab;
    }
}
