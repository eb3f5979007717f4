namespace ZeroCloud.Boot.Tests;

/// <summary>Lab tests share the machine's two cores with QEMU: they run one at a time.</summary>
[CollectionDefinition("lab", DisableParallelization = true)]
public sealed class LabTestGroup;
