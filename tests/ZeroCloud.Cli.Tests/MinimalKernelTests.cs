namespace ZeroCloud.Cli.Tests;

/// <summary>
/// The minimal guest kernel's configuration: what the repository keeps, and the check that refuses a build whose
/// .config does not hold every line of it. (The build itself takes minutes and is never run in CI.)
/// </summary>
public class MinimalKernelTests
{
    private static string Repo()
    {
        for (var dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
        {
            if (File.Exists(Path.Combine(dir, "ZeroCloud.sln")))
            {
                return dir;
            }
        }

        throw new DirectoryNotFoundException("ZeroCloud.sln not found above the test's folder");
    }

    [Fact]
    public void The_kept_configuration_has_what_a_service_microvm_needs()
    {
        var options = MinimalKernel.Options(File.ReadAllText(MinimalKernel.ConfigFile(Repo())));
        // PVH (booted as vmlinux), virtio-mmio devices from the command line (microvm with ACPI off), the NIC, a
        // serial console, the initramfs, and what .NET's runtime calls.
        foreach (var must in (string[])["CONFIG_PVH=y", "CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES=y", "CONFIG_VIRTIO_NET=y", "CONFIG_SERIAL_8250_CONSOLE=y", "CONFIG_BLK_DEV_INITRD=y", "CONFIG_DEVTMPFS=y", "CONFIG_FUTEX=y", "CONFIG_EPOLL=y", "CONFIG_EVENTFD=y", "CONFIG_TIMERFD=y", "CONFIG_MEMBARRIER=y", "CONFIG_SHMEM=y", "CONFIG_INET=y", "CONFIG_UNIX=y"])
        {
            Assert.Contains(must, options);
        }

        Assert.All(options, o => Assert.Matches("^CONFIG_[A-Z0-9_]+=(y|\".*\"|[0-9]+)$", o));
    }

    [Fact]
    public void A_configuration_that_does_not_hold_a_line_is_named_with_every_missing_option()
    {
        const string wanted = """
            # a comment
            CONFIG_PVH=y

            CONFIG_LOCALVERSION="-zc-minimal"
            CONFIG_VIRTIO_NET=y
            """;
        const string held = """
            CONFIG_PVH=y
            CONFIG_LOCALVERSION="-zc-minimal"
            # CONFIG_VIRTIO_NET is not set
            """;
        Assert.Equal(["CONFIG_VIRTIO_NET=y"], MinimalKernel.NotHeld(wanted, held));
        Assert.Empty(MinimalKernel.NotHeld(wanted, held.Replace("# CONFIG_VIRTIO_NET is not set", "CONFIG_VIRTIO_NET=y", StringComparison.Ordinal)));
        Assert.Equal(["CONFIG_LOCALVERSION=\"-zc-minimal\""], MinimalKernel.NotHeld(wanted, "CONFIG_PVH=y\nCONFIG_LOCALVERSION=\"\"\nCONFIG_VIRTIO_NET=y\n"));
    }

    [Fact]
    public void The_node_image_and_a_kernel_named_twice_are_refused_before_anything_is_built()
    {
        var output = Directory.CreateTempSubdirectory("zc-minimal-").FullName;
        try
        {
            var stderr = new StringWriter();
            Assert.Equal(ZcCommand.UsageError, ImageCommand.Run("node", output, null, TextWriter.Null, stderr, minimalKernel: true));
            Assert.Contains("the node image boots bare metal and keeps the distro kernel", stderr.ToString(), StringComparison.Ordinal);

            var yaml = Path.Combine(output, "cluster.yaml");
            File.WriteAllText(yaml, "apiVersion: zerocloud.io/v1\nkind: Cluster\nmetadata: { name: k }\nspec:\n  network: { subnet: 10.0.0.0/24, gateway: 10.0.0.1 }\n  boot: { kernel: ./bzImage }\n");
            stderr = new StringWriter();
            Assert.Equal(ZcCommand.UsageError, ImageCommand.Run("hello", output, yaml, TextWriter.Null, stderr, minimalKernel: true));
            Assert.Contains("--minimal-kernel and spec.boot.kernel (./bzImage) both name a kernel", stderr.ToString(), StringComparison.Ordinal);
            Assert.Empty(Directory.GetDirectories(output));
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }
}
