namespace ZeroCloud.Netboot.Dhcp;

/// <summary>DHCP message types (option 53, RFC 2132 §9.6).</summary>
public enum DhcpMessageType : byte
{
    None = 0,
    Discover = 1,
    Offer = 2,
    Request = 3,
    Decline = 4,
    Ack = 5,
    Nak = 6,
    Release = 7,
    Inform = 8,
}

/// <summary>Option codes this server reads or writes (RFC 2132, 3046, 4578, 3396; 175 is iPXE's).</summary>
public static class DhcpOption
{
    public const byte Pad = 0;
    public const byte SubnetMask = 1;
    public const byte Router = 3;
    public const byte DomainNameServer = 6;
    public const byte HostName = 12;
    public const byte DomainName = 15;
    public const byte BroadcastAddress = 28;
    public const byte NtpServers = 42;
    public const byte VendorSpecific = 43;
    public const byte RequestedIpAddress = 50;
    public const byte LeaseTime = 51;
    public const byte Overload = 52;
    public const byte MessageType = 53;
    public const byte ServerIdentifier = 54;
    public const byte ParameterRequestList = 55;
    public const byte Message = 56;
    public const byte MaxMessageSize = 57;
    public const byte RenewalTime = 58;
    public const byte RebindingTime = 59;
    public const byte VendorClassIdentifier = 60;
    public const byte ClientIdentifier = 61;
    public const byte TftpServerName = 66;
    public const byte BootFileName = 67;
    public const byte UserClass = 77;
    public const byte RelayAgentInformation = 82;
    public const byte ClientSystemArchitecture = 93;
    public const byte ClientNetworkInterface = 94;
    public const byte ClientMachineId = 97;
    public const byte Ipxe = 175;
    public const byte End = 255;
}

/// <summary>Client system architecture types (option 93; RFC 4578 and the IANA registry).</summary>
public enum ClientArchitecture : ushort
{
    X86Bios = 0,
    X86Uefi = 6,
    X64Uefi = 7,
    EfiByteCode = 9, // widely sent by x64 UEFI firmware in place of 7
    Arm32Uefi = 10,
    Arm64Uefi = 11,
    X86UefiHttp = 15,
    X64UefiHttp = 16,
    Arm64UefiHttp = 19,
}

public static class DhcpPorts
{
    public const int Server = 67;
    public const int Client = 68;
    public const int PxeBootServer = 4011;
}
