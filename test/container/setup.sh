#!/usr/bin/env bash
# Prepares a Debian 12 machine (as root) to build and run spinet's Dockerfile with podman, without
# Docker Hub. Idempotent: each step is skipped when already done, so running it again is cheap.
#
#   1. apt-get install podman buildah runc debootstrap   (when podman, runc or debootstrap is missing)
#   2. /etc/containers/containers.conf from test/container/containers.conf (only when none exists)
#   3. a locally built stand-in for the base image docker.io/library/node:20-slim (when no image has
#      that name): a debootstrap'd Debian bookworm (minbase) with this machine's node binary, npm, the
#      CA bundle (NODE_EXTRA_CA_CERTS, so npm works through this network's TLS proxy) and user `node`
#      (uid/gid 1000), as in the real image. Pass --force-base to rebuild it.
#
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian), SPINET_BASE_IMAGE (default
# docker.io/library/node:20-slim).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
base="${SPINET_BASE_IMAGE:-docker.io/library/node:20-slim}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
force_base=0
for arg in "$@"; do
  case "$arg" in
    --force-base) force_base=1 ;;
    *) echo "setup.sh: unknown argument $arg (known: --force-base)" >&2; exit 2 ;;
  esac
done

log() { printf '[setup %5ss] %s\n' "$SECONDS" "$*"; }

if [ "$(id -u)" != 0 ]; then
  echo "setup.sh: run as root (it installs Debian packages and writes /etc/containers)" >&2
  exit 2
fi

# 1. Packages.
missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman buildah)
command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ] || missing+=(runc)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]} (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah runc debootstrap >/dev/null
  log "installed: $(podman --version), $(runc --version | head -n1)"
else
  log "podman, runc and debootstrap already installed ($(podman --version))"
fi

# 2. containers.conf: cgroupfs + runc, file events, bounded ulimits. Never overwrites an existing file.
conf=/etc/containers/containers.conf
if [ -f "$conf" ]; then
  log "$conf exists; left as it is"
else
  mkdir -p /etc/containers
  cp "$here/containers.conf" "$conf"
  log "wrote $conf"
fi

# 3. The base image stand-in.
if [ "$force_base" = 0 ] && podman image exists "$base"; then
  log "base image $base already present; left as it is (--force-base rebuilds it)"
  exit 0
fi
node_bin="$(readlink -f "$(command -v node)")"
npm_dir="$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)"   # .../node_modules/npm
ca=/etc/ssl/certs/ca-certificates.crt
[ -f "$npm_dir/bin/npm-cli.js" ] || { echo "setup.sh: npm not found at $npm_dir" >&2; exit 1; }
[ -f "$ca" ] || { echo "setup.sh: no CA bundle at $ca (apt-get install ca-certificates)" >&2; exit 1; }
node_version="$("$node_bin" --version)"

work="$(mktemp -d /var/tmp/spinet-base.XXXXXX)"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
log "debootstrap --variant=minbase bookworm from $mirror (about a minute)"
if ! debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1; then
  tail -n 20 "$work/debootstrap.log" >&2
  echo "setup.sh: debootstrap failed (is $mirror reachable? set DEBIAN_MIRROR)" >&2
  exit 1
fi
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

log "adding node $node_version, npm $("$node_bin" "$npm_dir/bin/npm-cli.js" --version 2>/dev/null), the CA bundle and user node (1000)"
install -D -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
mkdir -p "$rootfs/usr/local/lib/node_modules"
cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
install -D -m 0644 "$ca" "$rootfs$ca"
chroot "$rootfs" groupadd --gid 1000 node
chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
chroot "$rootfs" /usr/local/bin/node -e 'process.exit(0)' || { echo "setup.sh: node does not run inside the rootfs" >&2; exit 1; }

log "importing as $base"
tar -C "$rootfs" -c --numeric-owner . | podman import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=${node_version#v}" \
  --change "ENV NODE_EXTRA_CA_CERTS=$ca" \
  --change 'LABEL io.spinet.base-standin=true' \
  --change 'CMD ["node"]' \
  - "$base" >/dev/null
log "done: $(podman image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$base")"
