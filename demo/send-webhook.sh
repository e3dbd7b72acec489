#!/usr/bin/env bash
# Sign a sample webhook the way a provider does and send it to the demo (make run, or
# docker compose up), printing what comes back: the app's echo of what reached it, or
# the guard's refusal.
#
#   demo/send-webhook.sh github            # signed: 200 and the app's echo
#   demo/send-webhook.sh stripe
#   demo/send-webhook.sh standard
#   TAMPER=1 demo/send-webhook.sh github   # body changed after signing: 401
#
# URL (default http://127.0.0.1:10000) and the secrets (default: the demo values in
# envoy/envoy.yaml) can be overridden from the environment. Needs curl and openssl.
set -euo pipefail

scheme="${1:-github}"
now="$(date +%s)"
default_body='{"event":"demo","sent_at":'"$now"'}'
body="${2:-$default_body}"
url="${URL:-http://127.0.0.1:10000}"

hmac_hex() { # key-as-text message -> hex HMAC-SHA256
    printf '%s' "$2" | openssl dgst -sha256 -hmac "$1" | sed 's/^.*= *//'
}

case "$scheme" in
    github)
        secret="${GITHUB_WEBHOOK_SECRET:-demo-github-secret}"
        path=/webhooks/github
        headers=(-H "X-GitHub-Event: ping" -H "X-Hub-Signature-256: sha256=$(hmac_hex "$secret" "$body")")
        ;;
    stripe)
        secret="${STRIPE_WEBHOOK_SECRET:-whsec_demo_stripe_secret}"
        path=/webhooks/stripe
        # The key is the whole whsec_ string; the signed bytes are "<t>.<body>".
        headers=(-H "Stripe-Signature: t=$now,v1=$(hmac_hex "$secret" "$now.$body")")
        ;;
    standard)
        secret="${STANDARD_WEBHOOK_SECRET:-whsec_d2ViaG9vay1ndWFyZCBkZW1vIHN0YW5kYXJkIGtleSE=}"
        path=/webhooks/standard
        id="msg_demo_$now"
        # The key is the base64 after whsec_, as raw bytes; the signature is base64.
        keyhex="$(printf '%s' "${secret#whsec_}" | openssl base64 -d -A | od -An -v -tx1 | tr -d ' \n')"
        sig="$(printf '%s' "$id.$now.$body" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$keyhex" -binary | openssl base64 -A)"
        headers=(-H "webhook-id: $id" -H "webhook-timestamp: $now" -H "webhook-signature: v1,$sig")
        ;;
    *)
        echo "usage: $0 github|stripe|standard [body]" >&2
        exit 2
        ;;
esac

if [ -n "${TAMPER:-}" ]; then
    body="${body}tampered"
fi

exec curl -sS -i -X POST "$url$path" -H "Content-Type: application/json" "${headers[@]}" --data-binary "$body"
