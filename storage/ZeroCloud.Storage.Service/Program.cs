using System.CommandLine;
using ZeroCloud.Init;
using ZeroCloud.Storage;

// zc-storage: the storage service image's /init binary; the same code as `zc serve storage`.
return ServiceProgram.Main(
    "storage",
    (RootCommand)StorageCommand.Configure(new RootCommand("zc-storage — ZeroCloud's replicated, content-addressed store.")),
    args,
    "--data", "/var/lib/zerocloud/storage");
