#!/usr/bin/env bash
# Install podman and its helpers for the container test (tests/container) on Debian/Ubuntu.
# Idempotent and non-interactive: does nothing when everything is already installed.
# Called by .ci/run; a developer can run it too (as root, or with sudo available).
# The debootstrap base image itself is created (and cached) by container/podman_env.py.
set -euo pipefail

packages=(podman buildah runc debootstrap fuse-overlayfs slirp4netns uidmap)
missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "ci-setup: podman and helpers already installed"
  exit 0
fi

sudo=()
if [ "$(id -u)" != 0 ]; then sudo=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
echo "ci-setup: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
# Recommends included on purpose: this is the set that is known to work (catatonit, netavark...).
"${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
podman --version
