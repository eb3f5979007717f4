# Shared by the bench scripts that run etcd on TLS, its recommended setup for a cluster.
# Usage: source bench/etcd-tls.sh; etcd_tls_certs <dir>
# Makes a CA and one certificate for 127.0.0.1 (ECDSA P-256, as ours; server and client use) in <dir>:
# ca.crt, node.crt, node.key.
etcd_tls_certs() {
  local d=$1
  mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/ca.key" -out "$d/ca.crt" -days 2 -subj "/CN=etcd-bench-ca" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/node.key" -out "$d/node.csr" -subj "/CN=127.0.0.1" 2>/dev/null
  printf "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n" >"$d/ext"
  openssl x509 -req -in "$d/node.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -out "$d/node.crt" -days 2 -extfile "$d/ext" 2>/dev/null
}
