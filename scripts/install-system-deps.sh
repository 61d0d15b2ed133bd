#!/usr/bin/env bash
# Installs the Debian packages the tests and benchmarks use, only those that are missing:
# a JDK (Java fixtures), cc and gdb (native crashes and their cores), Ceph RGW (the real S3
# server), rclone and awscli (reference and interoperability tools), GNU time (benchmarks),
# zip/unzip (npm run package), curl (staging downloads the runtime) and unshare (no-network staging).
set -euo pipefail
need=()
command -v javac >/dev/null || need+=(openjdk-17-jdk-headless)
command -v cc >/dev/null || need+=(gcc)
command -v gdb >/dev/null || need+=(gdb)
command -v tar >/dev/null || need+=(tar)
command -v zip >/dev/null || need+=(zip)
command -v unzip >/dev/null || need+=(unzip)
command -v curl >/dev/null || need+=(curl ca-certificates)
command -v unshare >/dev/null || need+=(util-linux)
command -v rclone >/dev/null || need+=(rclone)
command -v aws >/dev/null || need+=(awscli)
command -v radosgw >/dev/null || need+=(radosgw ceph-mon ceph-osd ceph-common)
[ -x /usr/bin/time ] || need+=(time)
[ -x /usr/bin/chromium ] || need+=(chromium) # the crash page test (issue 13) drives it with playwright-core
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing: ${need[*]} (run as root, or: sudo apt-get install ${need[*]})" >&2
  exit 1
fi
echo "== apt-get install ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}"
