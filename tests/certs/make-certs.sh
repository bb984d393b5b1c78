#!/bin/sh
# make-certs.sh - (re)generate the test-only PKI used by test_tls and the
# integration tests. Needs the openssl CLI. Writes into the directory that
# holds this script:
#   ca.pem / ca.key                 test root CA (EC P-256, 20 years)
#   server.pem / server.key         "localhost": DNS:localhost, IP:127.0.0.1
#   server-wrongname.pem / .key     DNS:wrong.example only (hostname mismatch)
#   other-ca.pem / other-ca.key     an unrelated CA (certificate not trusted)
# Keys are unencrypted PKCS#8 PEM ("PRIVATE KEY"), which BearSSL's
# br_skey_decoder reads. Server certificates are valid for 20 years as well,
# so the committed files do not expire under the tests.
set -eu
cd "$(dirname "$0")"
DAYS=7305
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

mkca() { # name subject
	newkey "$1.key"
	cat > "$tmp/$1.cnf" <<CNF
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3
[dn]
CN = $2
O = llmproxy tests
[v3]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
CNF
	openssl req -new -x509 -sha256 -days $DAYS -key "$1.key" \
	    -config "$tmp/$1.cnf" -out "$1.pem"
}

mkserver() { # name CN SANs
	newkey "$1.key"
	cat > "$tmp/$1.cnf" <<CNF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = $2
O = llmproxy tests
[v3]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $3
authorityKeyIdentifier = keyid
CNF
	openssl req -new -sha256 -key "$1.key" -config "$tmp/$1.cnf" \
	    -out "$tmp/$1.csr"
	openssl x509 -req -sha256 -days $DAYS -in "$tmp/$1.csr" \
	    -CA ca.pem -CAkey ca.key -set_serial "0x$(openssl rand -hex 8)" \
	    -extfile "$tmp/$1.cnf" -extensions v3 -out "$1.pem"
}

mkca ca "llmproxy test root CA"
mkca other-ca "unrelated test CA"
mkserver server localhost "DNS:localhost, IP:127.0.0.1"
mkserver server-wrongname wrong.example "DNS:wrong.example"
chmod 644 ./*.key ./*.pem
openssl verify -CAfile ca.pem server.pem server-wrongname.pem
