using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using ZeroCloud.Model.Api;

namespace ZeroCloud.Model.Pki;

/// <summary>
/// Seals and opens secrets (<c>zc secret</c>) with AES-256-GCM. The key is derived (HKDF-SHA256) from the issuing CA's
/// private key, which lives only in the voters' data folders, reaches a new voter only over mutual TLS, and is in
/// <c>zc pki backup</c>: so the key never enters the store, its WAL or its snapshots, and every member can open what
/// any member sealed. A secret's name is the associated data: a sealed record moved to another name does not open.
/// </summary>
public sealed class SecretBox
{
    private const int KeySize = 32;
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private static readonly byte[] Info = Encoding.ASCII.GetBytes("zerocloud secrets v1");

    private readonly byte[] _key;

    private SecretBox(byte[] key)
    {
        _key = key;
        KeyId = Convert.ToHexStringLower(SHA256.HashData(key))[..16];
    }

    /// <summary>Names the key (the first 16 hex digits of its SHA-256), so a record sealed by another CA's key is told apart.</summary>
    public string KeyId { get; }

    /// <summary>The box of the cluster whose issuing CA is <paramref name="pki"/>.</summary>
    public static SecretBox For(ClusterPki pki)
    {
        using var issuingKey = pki.Issuing.GetECDsaPrivateKey() ?? throw new CryptographicException("this copy of the CA has no issuing key: it cannot seal or open secrets");
        var d = issuingKey.ExportParameters(true).D!;
        try
        {
            return new SecretBox(HKDF.DeriveKey(HashAlgorithmName.SHA256, d, KeySize, salt: pki.Issuing.GetCertHash(HashAlgorithmName.SHA256), info: Info));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(d);
        }
    }

    /// <summary>The record to store for <paramref name="value"/> under <paramref name="name"/>.</summary>
    public SecretDto Seal(string name, ReadOnlySpan<byte> value, IReadOnlyList<string> readers, DateTime created, DateTime now)
    {
        var nonce = RandomNumberGenerator.GetBytes(NonceSize);
        var ciphertext = new byte[value.Length];
        var tag = new byte[TagSize];
        using var aes = new AesGcm(_key, TagSize);
        aes.Encrypt(nonce, value, ciphertext, tag, Encoding.UTF8.GetBytes(name));
        return new SecretDto(name, readers, created, now, value.Length, KeyId, Convert.ToBase64String(nonce), Convert.ToBase64String(ciphertext), Convert.ToBase64String(tag));
    }

    /// <summary>The value of <paramref name="secret"/>; throws <see cref="CryptographicException"/> with the reason when it does not open.</summary>
    public byte[] Open(SecretDto secret)
    {
        if (secret.Key != KeyId)
        {
            throw new CryptographicException($"secret {secret.Name} was sealed with key {secret.Key}, not this cluster CA's ({KeyId}): it was made under another CA");
        }

        var value = new byte[Convert.FromBase64String(secret.Ciphertext).Length];
        using var aes = new AesGcm(_key, TagSize);
        try
        {
            aes.Decrypt(Convert.FromBase64String(secret.Nonce), Convert.FromBase64String(secret.Ciphertext), Convert.FromBase64String(secret.Tag), value, Encoding.UTF8.GetBytes(secret.Name));
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new CryptographicException($"secret {secret.Name} does not open: its record was altered or moved from another name");
        }

        return value;
    }

    /// <summary>Why a stored record cannot be a sealed secret (bad base64, wrong sizes); null when its shape is right.</summary>
    public static string? Problem(SecretDto secret)
    {
        static int? Length(string text)
        {
            var buffer = new byte[text.Length];
            return Convert.TryFromBase64String(text, buffer, out var n) ? n : null;
        }

        return Length(secret.Nonce) != NonceSize ? "the nonce is not 12 bytes of base64"
            : Length(secret.Tag) != TagSize ? "the tag is not 16 bytes of base64"
            : Length(secret.Ciphertext) is not { } size ? "the ciphertext is not base64"
            : size != secret.Size ? $"the ciphertext is {size} bytes, the record says {secret.Size}"
            : secret.Key.Length != 16 ? "the key id is not 16 hex digits" : null;
    }
}
