#!/usr/bin/env bash
# Demo certificates for the Copyleaks example of docker-compose.yml (profile `copyleaks`),
# made with openssl into DIR (default .work/compose/tls), once; rerunning keeps them:
#
#   webhooks.crt/.key   the TLS server certificate of the webhook listener (:8443)
#   api-ca.crt          a CA for the mock API, mounted in the Envoy container as its system
#                       CA bundle, so the copyleaks_api cluster verifies the mock as it
#                       would verify api.copyleaks.com
#   api.crt/.key        the mock API's certificate for api.copyleaks.com and id.copyleaks.com
#                       (the list API and the identity service), issued by that CA
#   sender.crt/.key     a self-signed client certificate standing in for Copyleaks' own
#   client-certificates.json   what the mock API publishes: the sender's SHA-1 thumbprint
#
# Demo material only: the keys are world-readable so that the official Envoy image (which
# runs as uid 101) can read them.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir="${1:-.work/compose/tls}"
mkdir -p "$dir"
cd "$dir"
# Kept unless made before the mock also played the identity service.
if [ -s client-certificates.json ] && grep -q "id.copyleaks.com" api.names 2>/dev/null; then exit 0; fi

ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
q() { openssl "$@" >/dev/null 2>&1; }
q req -x509 "${ec[@]}" -keyout webhooks.key -out webhooks.crt -days 30 -subj /CN=webhooks.example.test \
    -addext subjectAltName=DNS:webhooks.example.test,DNS:localhost
q req -x509 "${ec[@]}" -keyout api-ca.key -out api-ca.crt -days 30 -subj "/CN=webhook-guard demo API CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
q req -new "${ec[@]}" -keyout api.key -out api.csr -subj /CN=api.copyleaks.com
printf 'basicConstraints=CA:FALSE\nsubjectAltName=DNS:api.copyleaks.com,DNS:id.copyleaks.com\nextendedKeyUsage=serverAuth\n' >api.ext
q x509 -req -in api.csr -CA api-ca.crt -CAkey api-ca.key -CAcreateserial -out api.crt -days 30 -extfile api.ext
q req -x509 "${ec[@]}" -keyout sender.key -out sender.crt -days 30 -subj "/CN=Copyleaks Webhooks (demo)"
rm -f api.csr api.ext api-ca.srl
chmod 644 ./*.key ./*.crt
thumb="$(openssl x509 -in sender.crt -outform DER | openssl dgst -sha1 | sed 's/^.*= *//' | tr a-f A-F)"
printf '["%s"]\n' "$thumb" >client-certificates.json.tmp
echo "api.copyleaks.com id.copyleaks.com" >api.names
mv client-certificates.json.tmp client-certificates.json
