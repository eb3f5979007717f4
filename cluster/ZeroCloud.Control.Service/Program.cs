using System.CommandLine;
using ZeroCloud.Control;
using ZeroCloud.Init;

// zc-control: the control image's /init binary; the same code as `zc serve control`.
return ServiceProgram.Main(
    "control",
    (RootCommand)ControlHost.Configure(new RootCommand("zc-control — a ZeroCloud control-plane member: Raft (DotNext) over a revisioned key/value store, the HTTP API and the Orleans silo.")),
    args,
    "--data", "/var/lib/zerocloud/control");
