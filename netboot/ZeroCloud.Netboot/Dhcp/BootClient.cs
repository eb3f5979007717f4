using System.Text;
using ZeroCloud.Model.Net;

namespace ZeroCloud.Netboot.Dhcp;

/// <summary>What a DHCP client says about how it boots: PXE firmware, UEFI HTTP boot, or iPXE already running.</summary>
public readonly record struct BootClient(bool IsPxe, bool IsHttpClient, bool IsIpxe, ClientArchitecture? Architecture)
{
    public bool WantsBoot => IsPxe || IsHttpClient || IsIpxe;

    public static BootClient Classify(DhcpPacket packet)
    {
        var options = packet.Options;
        options.TryGet(DhcpOption.VendorClassIdentifier, out var vendor);
        var isPxe = vendor.StartsWith("PXEClient"u8);
        var isHttp = vendor.StartsWith("HTTPClient"u8);
        var isIpxe = options.Contains(DhcpOption.Ipxe) || HasIpxeUserClass(options);
        ClientArchitecture? arch = options.TryGet(DhcpOption.ClientSystemArchitecture, out var a) && a.Length >= 2
            ? (ClientArchitecture)(ushort)((a[0] << 8) | a[1])
            : ArchitectureFromVendorClass(vendor);
        return new BootClient(isPxe, isHttp, isIpxe, arch);
    }

    /// <summary>iPXE sends option 77 as the bare string "iPXE"; RFC 3004 clients send length-prefixed entries.</summary>
    private static bool HasIpxeUserClass(DhcpOptionSet options)
    {
        if (!options.TryGet(DhcpOption.UserClass, out var value))
        {
            return false;
        }

        if (value.SequenceEqual("iPXE"u8))
        {
            return true;
        }

        for (var i = 0; i < value.Length;)
        {
            int length = value[i++];
            if (i + length > value.Length)
            {
                return false;
            }

            if (value.Slice(i, length).SequenceEqual("iPXE"u8))
            {
                return true;
            }

            i += length;
        }

        return false;
    }

    /// <summary>"PXEClient:Arch:00007:UNDI:003016" carries the architecture when option 93 is missing.</summary>
    private static ClientArchitecture? ArchitectureFromVendorClass(ReadOnlySpan<byte> vendor)
    {
        var text = Encoding.ASCII.GetString(vendor);
        var at = text.IndexOf(":Arch:", StringComparison.Ordinal);
        return at >= 0 && text.Length >= at + 11 && ushort.TryParse(text.AsSpan(at + 6, 5), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var arch)
            ? (ClientArchitecture)arch
            : null;
    }
}

/// <summary>Where boot files are served from and which file each kind of machine gets.</summary>
public sealed record BootSettings
{
    /// <summary>The TFTP server (siaddr, option 66).</summary>
    public required uint NextServer { get; init; }

    /// <summary>Base of the HTTP boot server, such as http://10.77.0.2:8080 (no trailing slash).</summary>
    public required string HttpBase { get; init; }

    public string BiosFile { get; init; } = "undionly.kpxe";

    public string UefiFile { get; init; } = "ipxe.efi";

    /// <summary>The arm64 UEFI iPXE binary; null when the netboot root has none (arm64 clients then get no boot file).</summary>
    public string? Arm64UefiFile { get; init; }

    /// <summary>Per-machine boot file overrides (cluster.yaml nodes.known[].bootFile).</summary>
    public IReadOnlyDictionary<MacAddress, string> PerMachine { get; init; } = new Dictionary<MacAddress, string>();
}

/// <summary>The boot part of a reply: option 60 to echo, the file (or URL) and the server to fetch it from.</summary>
public sealed record BootAnswer(string VendorClass, string File, uint NextServer)
{
    /// <summary>PXE option 43 with PXE_DISCOVERY_CONTROL (sub-option 6) = 8: boot the file named, no menu, no multicast discovery.</summary>
    public static ReadOnlySpan<byte> PxeVendorOptions => [6, 1, 8, 255];

    public bool IsPxe => VendorClass == "PXEClient";

    /// <summary>Chooses the boot file for <paramref name="client"/>, or null when it is not booting or nothing fits its architecture.</summary>
    public static BootAnswer? For(BootClient client, MacAddress mac, BootSettings settings)
    {
        if (!client.WantsBoot)
        {
            return null;
        }

        var vendorClass = client.IsHttpClient ? "HTTPClient" : "PXEClient";
        if (client.IsIpxe)
        {
            // iPXE is running already: hand it its script over HTTP, which breaks the chainload loop.
            return new BootAnswer(vendorClass, $"{settings.HttpBase}/boot/{mac}.ipxe", settings.NextServer);
        }

        if (settings.PerMachine.TryGetValue(mac, out var custom))
        {
            return new BootAnswer(vendorClass, client.IsHttpClient && !custom.Contains("://", StringComparison.Ordinal) ? $"{settings.HttpBase}/{custom.TrimStart('/')}" : custom, settings.NextServer);
        }

        string? file = client.Architecture switch
        {
            null or ClientArchitecture.X86Bios => settings.BiosFile,
            ClientArchitecture.X64Uefi or ClientArchitecture.EfiByteCode or ClientArchitecture.X64UefiHttp => settings.UefiFile,
            ClientArchitecture.Arm64Uefi or ClientArchitecture.Arm64UefiHttp => settings.Arm64UefiFile,
            _ => null,
        };
        if (file is null)
        {
            return null;
        }

        return client.IsHttpClient
            ? new BootAnswer(vendorClass, $"{settings.HttpBase}/{file}", settings.NextServer)
            : new BootAnswer(vendorClass, file, settings.NextServer);
    }
}
