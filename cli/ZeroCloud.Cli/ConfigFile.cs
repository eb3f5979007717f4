using ZeroCloud.Model.Config;

namespace ZeroCloud.Cli;

/// <summary>Reads a cluster.yaml for a command; I/O problems are usage errors with a clear message.</summary>
internal static class ConfigFile
{
    public static bool TryLoad(string path, TextWriter stderr, out ClusterConfigResult result)
    {
        result = new ClusterConfigResult(null, []);
        try
        {
            if (Directory.Exists(path))
            {
                stderr.WriteLine($"zc: cannot read {path}: it is a directory; give the cluster.yaml inside it with -f");
                return false;
            }

            result = ClusterConfigLoader.LoadFile(path, path);
            return true;
        }
        catch (FileNotFoundException)
        {
            stderr.WriteLine($"zc: cannot read {path}: no such file (give the file with -f <path>; the repository root holds an example cluster.yaml)");
        }
        catch (DirectoryNotFoundException)
        {
            stderr.WriteLine($"zc: cannot read {path}: its folder does not exist");
        }
        catch (UnauthorizedAccessException)
        {
            stderr.WriteLine($"zc: cannot read {path}: permission denied");
        }
        catch (IOException ex)
        {
            stderr.WriteLine($"zc: cannot read {path}: {ex.Message}");
        }

        return false;
    }
}
