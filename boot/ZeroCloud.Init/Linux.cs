using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace ZeroCloud.Init;

/// <summary>The Linux calls PID 1 needs that .NET does not offer.</summary>
public static unsafe partial class Linux
{
    private const long SysFinitModule = 313; // x86-64
    private const uint SiocGetFlags = 0x8913;
    private const uint SiocSetFlags = 0x8914;
    private const uint SiocSetAddress = 0x8916;
    private const uint SiocSetNetmask = 0x891c;
    private const uint SiocAddRoute = 0x890B;
    private const int RebootPowerOff = 0x4321fedc;
    private const int RebootRestart = 0x01234567;
    private const nuint MsNoAtime = 1024;
    private const nuint MsMove = 8192;

    public static void Mount(string source, string target, string type, string? data = null)
    {
        Directory.CreateDirectory(target);
        if (MountNative(source, target, type, 0, data) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno != 16) // EBUSY: already mounted
            {
                throw new IOException($"mount {type} on {target} failed (errno {errno})");
            }
        }
    }

    /// <summary>Mounts a block device's filesystem on <paramref name="target"/>; any failure (busy included) throws with the errno.</summary>
    public static void MountDevice(string device, string target, string type, string? data = null)
    {
        if (MountNative(device, target, type, MsNoAtime, data) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"mount {device} ({type}) on {target} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
        }
    }

    /// <summary>Moves a mount from <paramref name="from"/> to <paramref name="to"/> (MS_MOVE): what was under <paramref name="to"/> is hidden.</summary>
    public static void MoveMount(string from, string to)
    {
        if (MountNative(from, to, "", MsMove, null) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"moving the mount {from} to {to} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
        }
    }

    /// <summary>umount2(2); <paramref name="detach"/>: MNT_DETACH (lazy: gone from the tree now, released when no longer busy).</summary>
    public static void Unmount(string target, bool detach = false)
    {
        if (Umount2(target, detach ? 2 : 0) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"unmounting {target} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
        }
    }

    public const long TmpfsMagic = 0x01021994;
    public const long RamfsMagic = 0x858458f6;

    /// <summary>statfs(2)'s f_type of the filesystem holding <paramref name="path"/> (TMPFS_MAGIC, RAMFS_MAGIC, EXT4_SUPER_MAGIC, …); 0 when it cannot be read.</summary>
    public static long FileSystemType(string path)
    {
        var buffer = stackalloc long[16]; // struct statfs is 120 bytes on x86-64 and arm64; f_type comes first
        return StatFs(path, buffer) == 0 ? buffer[0] : 0;
    }

    /// <summary>Loads a kernel module from its file; "already loaded" (EEXIST) is success.</summary>
    public static void LoadModule(string path)
    {
        using var handle = File.OpenHandle(path);
        var fd = handle.DangerousGetHandle();
        if (Syscall(SysFinitModule, fd, "", 0) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno != 17)
            {
                throw new IOException($"finit_module {path} failed (errno {errno})");
            }
        }
    }

    /// <summary>Sets the system clock (CLOCK_REALTIME) to <paramref name="utc"/>; needs CAP_SYS_TIME (PID 1 has it).</summary>
    public static void SetClock(DateTime utc)
    {
        var ticks = utc.ToUniversalTime().Ticks - DateTime.UnixEpoch.Ticks;
        var spec = stackalloc long[2];
        spec[0] = ticks / TimeSpan.TicksPerSecond;
        spec[1] = ticks % TimeSpan.TicksPerSecond * 100;
        Check(ClockSetTime(0, spec), "clock_settime");
    }

    public static void SetHostname(string name)
    {
        var bytes = Encoding.ASCII.GetBytes(name);
        fixed (byte* p = bytes)
        {
            _ = SetHostnameNative(p, (nuint)bytes.Length);
        }
    }

    /// <summary>Sets IFF_UP on an interface.</summary>
    public static void InterfaceUp(string name)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        Span<byte> req = stackalloc byte[40];
        Name(req, name);
        Check(Ioctl((int)socket.Handle, SiocGetFlags, req), $"SIOCGIFFLAGS {name}");
        var flags = BinaryPrimitives.ReadInt16LittleEndian(req[16..]);
        BinaryPrimitives.WriteInt16LittleEndian(req[16..], (short)(flags | 0x1 /* IFF_UP */));
        Check(Ioctl((int)socket.Handle, SiocSetFlags, req), $"SIOCSIFFLAGS {name}");
    }

    /// <summary>Gives an interface its IPv4 address and netmask.</summary>
    public static void SetAddress(string name, uint address, uint mask)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        Span<byte> req = stackalloc byte[40];
        Name(req, name);
        SockaddrIn(req[16..], address);
        Check(Ioctl((int)socket.Handle, SiocSetAddress, req), $"SIOCSIFADDR {name}");
        req[16..].Clear();
        SockaddrIn(req[16..], mask);
        Check(Ioctl((int)socket.Handle, SiocSetNetmask, req), $"SIOCSIFNETMASK {name}");
    }

    /// <summary>Adds the default route through <paramref name="gateway"/>.</summary>
    public static void AddDefaultRoute(uint gateway)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        Span<byte> rt = stackalloc byte[120]; // struct rtentry on x86-64
        rt.Clear();
        SockaddrIn(rt[8..], 0);        // rt_dst
        SockaddrIn(rt[24..], gateway); // rt_gateway
        SockaddrIn(rt[40..], 0);       // rt_genmask
        BinaryPrimitives.WriteUInt16LittleEndian(rt[56..], 0x1 | 0x2); // RTF_UP | RTF_GATEWAY
        var result = Ioctl((int)socket.Handle, SiocAddRoute, rt);
        if (result != 0 && Marshal.GetLastPInvokeError() != 17)
        {
            Check(result, "SIOCADDRT default");
        }
    }

    /// <summary>
    /// Powers the machine off; without ACPI (the minimal guest kernel on <c>microvm,acpi=off</c>) the kernel has no way
    /// to, and would only halt with QEMU still running, so it resets instead: QEMU runs VMs with <c>-no-reboot</c>, so
    /// a reset ends it as a power-off does.
    /// </summary>
    public static void PowerOff()
    {
        Sync();
        _ = RebootNative(Directory.Exists("/sys/firmware/acpi") ? RebootPowerOff : RebootRestart);
    }

    /// <summary>
    /// Blocks until a child has exited and returns its pid without reaping it (waitid with WNOWAIT); 0 when this process
    /// has no child at all.
    /// </summary>
    public static int NextExited()
    {
        var info = stackalloc byte[128]; // siginfo_t; si_pid at offset 16 on x86-64 and arm64
        return WaitId(0 /* P_ALL */, 0, info, 4 /* WEXITED */ | 0x01000000 /* WNOWAIT */) == 0 ? *(int*)(info + 16) : 0;
    }

    /// <summary>Reaps <paramref name="pid"/> if it has exited (waitpid, WNOHANG).</summary>
    public static void Reap(int pid)
    {
        int status;
        WaitPid(pid, &status, 1 /* WNOHANG */);
    }

    private static void Name(Span<byte> req, string name)
    {
        req.Clear();
        Encoding.ASCII.GetBytes(name.AsSpan(0, Math.Min(15, name.Length)), req);
    }

    private static void SockaddrIn(Span<byte> destination, uint address)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(destination, (ushort)AddressFamily.InterNetwork);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], address);
    }

    private static int Ioctl(int fd, uint request, Span<byte> argument)
    {
        fixed (byte* p = argument)
        {
            return IoctlNative(fd, request, p);
        }
    }

    /// <summary>
    /// Raises this process's open-descriptor limit (RLIMIT_NOFILE) to the kernel's most (fs.nr_open, at most 1 Mi),
    /// soft and hard, as systemd's LimitNOFILE does for services: the kernel starts PID 1 with 1024, and every
    /// service started from here inherits it. Returns the soft limit before and after; unchanged when not allowed.
    /// </summary>
    public static (ulong Before, ulong After) RaiseDescriptorLimit()
    {
        const int RlimitNofile = 7;
        var limit = stackalloc ulong[2];
        if (GetRLimit(RlimitNofile, limit) != 0)
        {
            return (0, 0);
        }

        var before = limit[0];
        ulong most = 1 << 20;
        try
        {
            if (ulong.TryParse(File.ReadAllText("/proc/sys/fs/nr_open").Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var nrOpen))
            {
                most = Math.Min(nrOpen, most);
            }
        }
        catch (IOException)
        {
            // keep 1 Mi
        }

        limit[0] = limit[1] = Math.Max(most, limit[1]);
        if (SetRLimit(RlimitNofile, limit) != 0)
        {
            // Not allowed past the hard limit (not root): the soft limit up to it.
            GetRLimit(RlimitNofile, limit);
            limit[0] = limit[1];
            SetRLimit(RlimitNofile, limit);
        }

        GetRLimit(RlimitNofile, limit);
        return (before, limit[0]);
    }

    [LibraryImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static partial int GetRLimit(int resource, ulong* limit);

    [LibraryImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    private static partial int SetRLimit(int resource, ulong* limit);

    private static void Check(int result, string what)
    {
        if (result != 0)
        {
            throw new IOException($"{what} failed (errno {Marshal.GetLastPInvokeError()})");
        }
    }

    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MountNative(string source, string target, string type, nuint flags, string? data);

    [LibraryImport("libc", EntryPoint = "statfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int StatFs(string path, long* buffer);

    [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Umount2(string target, int flags);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial long Syscall(long number, nint fd, string args, int flags);

    [LibraryImport("libc", EntryPoint = "sethostname", SetLastError = true)]
    private static partial int SetHostnameNative(byte* name, nuint length);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int IoctlNative(int fd, nuint request, byte* argument);

    [LibraryImport("libc", EntryPoint = "clock_settime", SetLastError = true)]
    private static partial int ClockSetTime(int clock, long* timespec);

    [LibraryImport("libc", EntryPoint = "sync")]
    private static partial void Sync();

    [LibraryImport("libc", EntryPoint = "reboot", SetLastError = true)]
    private static partial int RebootNative(int command);

    [LibraryImport("libc", EntryPoint = "waitid", SetLastError = true)]
    private static partial int WaitId(int idType, int id, byte* info, int options);

    [LibraryImport("libc", EntryPoint = "waitpid", SetLastError = true)]
    private static partial int WaitPid(int pid, int* status, int options);
}
