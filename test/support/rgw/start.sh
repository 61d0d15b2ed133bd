#!/usr/bin/env bash
# A throw-away single-node Ceph cluster with an S3 gateway, for the test suite and for anyone
# who wants a real S3 server on their machine: one monitor, one OSD and radosgw, all bound to
# 127.0.0.1, all state (config, keys, data, logs, pid files) inside one folder. Run as root.
#
#   apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd ceph-common
#   test/support/rgw/start.sh --dir /tmp/rgw --rgw-port 7480 --mon-port 3300 --mon-v1-port 6789
#   test/support/rgw/stop.sh --dir /tmp/rgw && rm -rf /tmp/rgw
#
# Options:
#   --dir DIR             where everything lives; must not exist or be empty (required)
#   --rgw-port PORT       S3 endpoint http://127.0.0.1:PORT (required)
#   --mon-port PORT       monitor, messenger v2 (required)
#   --mon-v1-port PORT    monitor, legacy messenger v1 (required)
#   --objectstore KIND    bluestore (default): OSD data in a sparse 20 GiB file in DIR, what
#                         production clusters run; ready in ~4.5 s, memory flat under load.
#                         memstore: OSD data in RAM (at most 4 GiB); ready in ~1.5 s, but every
#                         stored byte stays in the OSD's memory (1.9 GB RSS after one 1 GiB object)
#   --timeout SECONDS     give up when a daemon is not up within this time (default 90)
#
# On success it prints one line per step with the elapsed time and writes DIR/s3.json:
# endpoint, region, access key, secret and the SSE-KMS key id of the built-in "testing" KMS.
# Exit status is non-zero when anything failed; daemons already started keep running, so
# call stop.sh either way. OSD daemons also listen on ports from Ceph's 6800-7300 range.
set -euo pipefail

dir='' rgw_port='' mon_port='' mon_v1_port='' objectstore=bluestore timeout=90
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2 ;;
    --rgw-port) rgw_port=$2 ;;
    --mon-port) mon_port=$2 ;;
    --mon-v1-port) mon_v1_port=$2 ;;
    --objectstore) objectstore=$2 ;;
    --timeout) timeout=$2 ;;
    *) echo "start.sh: unknown option $1 (see the comment at the top of $0)" >&2; exit 2 ;;
  esac
  shift 2
done
for required in dir rgw_port mon_port mon_v1_port; do
  if [ -z "${!required}" ]; then echo "start.sh: --${required//_/-} is required" >&2; exit 2; fi
done
case "$objectstore" in memstore | bluestore) ;; *) echo "start.sh: --objectstore must be memstore or bluestore" >&2; exit 2 ;; esac
for tool in ceph ceph-authtool monmaptool ceph-mon ceph-osd radosgw radosgw-admin; do
  command -v "$tool" >/dev/null || { echo "start.sh: $tool not found; install: apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd ceph-common" >&2; exit 3; }
done
if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
  echo "start.sh: $dir is not empty; stop the cluster in it (stop.sh --dir $dir) and remove it first" >&2; exit 2
fi

dir=$(mkdir -p "$dir" && cd "$dir" && pwd)
conf=$dir/ceph.conf
started_ns=$(date +%s%N)
step() { printf '[%5.1fs] %s\n' "$(( ($(date +%s%N) - started_ns) / 1000000 ))e-3" "$*"; }
fail() { echo "start.sh: $* (logs in $dir/log)" >&2; exit 1; }

# Every Ceph command names our config explicitly, so stop.sh can find strays by it.
ceph_cli() { ceph --conf "$conf" --connect-timeout 10 "$@"; }

# until SECONDS COMMAND...: retries every 0.2 s; false when time runs out.
until_ok() {
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# rgw_answers PORT: an anonymous GET / on 127.0.0.1:PORT gets radosgw's (empty) bucket list,
# so it is our gateway answering, not whatever else may listen there (bash's /dev/tcp: no curl)
rgw_answers() {
  local reply
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  reply=$(timeout 5 cat <&3)
  exec 3<&-
  [[ $reply == HTTP/1.?" 200"* && $reply == *'<ID>anonymous</ID>'* ]]
}

mkdir -p "$dir"/{run,log,mon,osd/0,rgw}
echo $$ > "$dir/run/start.pid"

fsid=$(cat /proc/sys/kernel/random/uuid)
access_key=postmortem-test
secret_key=postmortem-test-secret
kms_key_id=postmortem-test-key
kms_key=$(head -c 32 /dev/urandom | base64)   # AES-256 key for RGW's "testing" KMS

# --- configuration: one node, one copy of everything, loopback only
cat > "$conf" <<CONF
[global]
fsid = $fsid
mon_host = [v2:127.0.0.1:$mon_port,v1:127.0.0.1:$mon_v1_port]
public_addr = 127.0.0.1
public_network = 127.0.0.0/8
ms_bind_ipv6 = false
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
keyring = $dir/\$name.keyring
run_dir = $dir/run
admin_socket = $dir/run/\$name.asok
pid_file = $dir/run/\$name.pid
log_file = $dir/log/\$name.log
mon_cluster_log_file = $dir/log/cluster.log
crash_dir = $dir/log
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
# A test cluster on a shared disk: the monitor's "disk nearly full" refusal (5% free by default)
# would stop it on a big, busy disk that still has gigabytes free.
mon_data_avail_crit = 0
mon_data_avail_warn = 0
mon_allow_pool_delete = true
mon_max_pg_per_osd = 1000
mon_warn_on_pool_no_redundancy = false
mon_warn_on_insecure_global_id_reclaim_allowed = false
# the monitor commits changes (each pool radosgw creates, the OSD joining) right away instead
# of batching them for a second: saves ~10 s of start-up and of the first bucket's creation
paxos_propose_interval = 0.05

[mon]
mon_data = $dir/mon/\$id
keyring = $dir/mon/\$id/keyring

[osd]
osd_data = $dir/osd/\$id
keyring = $dir/osd/\$id/keyring
osd_objectstore = $objectstore
# RADOS objects stay small (radosgw stripes S3 objects into 4 MiB pieces), so the default
# osd_max_object_size is kept; what a 1 GiB S3 object needs is room in the store:
memstore_device_bytes = 4294967296
bluestore_block_create = true
bluestore_block_size = 21474836480
bluestore_fsck_on_mkfs = false
bluestore_fsck_on_mount = false
osd_memory_target = 1073741824

[client.rgw.test]
rgw_frontends = beast endpoint=127.0.0.1:$rgw_port
rgw_data = $dir/rgw
rgw_thread_pool_size = 64
# deleted objects' space comes back after a minute, not two hours
rgw_gc_obj_min_wait = 60
rgw_gc_processor_period = 60
# SSE-KMS without a key server: keys come from this config ("testing" backend), over HTTP
rgw_crypt_s3_kms_backend = testing
rgw_crypt_s3_kms_encryption_keys = $kms_key_id=$kms_key
rgw_crypt_require_ssl = false
CONF

# --- keys: mon., client.admin (all caps), client.rgw.test
ceph-authtool --create-keyring "$dir/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool --create-keyring "$dir/client.admin.keyring" --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
ceph-authtool "$dir/mon.keyring" --import-keyring "$dir/client.admin.keyring" >/dev/null

# --- monitor
monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port,v1:127.0.0.1:$mon_v1_port]" "$dir/monmap" >/dev/null
ceph-mon --conf "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/mon.keyring" \
  </dev/null >"$dir/log/mon-mkfs.out" 2>&1 || fail "ceph-mon --mkfs failed"
ceph-mon --conf "$conf" -i a </dev/null >>"$dir/log/daemons.out" 2>&1 || fail "ceph-mon did not start"
until_ok "$timeout" ceph_cli mon stat || fail "the monitor does not answer on 127.0.0.1:$mon_port"
step "monitor answers on 127.0.0.1:$mon_port"

# --- OSD 0
osd_uuid=$(cat /proc/sys/kernel/random/uuid)
osd_secret=$(ceph-authtool --gen-print-key)
osd_id=$(printf '{"cephx_secret": "%s"}' "$osd_secret" | ceph_cli osd new "$osd_uuid" -i -)
[ "$osd_id" = 0 ] || fail "expected osd id 0, got '$osd_id'"
ceph-authtool --create-keyring "$dir/osd/0/keyring" --name osd.0 --add-key "$osd_secret" >/dev/null
ceph-osd --conf "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" </dev/null >"$dir/log/osd-mkfs.out" 2>&1 ||
  fail "ceph-osd --mkfs ($objectstore) failed"
ceph-osd --conf "$conf" -i 0 </dev/null >>"$dir/log/daemons.out" 2>&1 || fail "ceph-osd did not start"
osd_up() { ceph_cli osd dump | grep -q '^osd\.0 up'; }
until_ok "$timeout" osd_up || fail "osd.0 did not come up"
step "osd.0 up ($objectstore)"

# --- gateway and its S3 user
ceph_cli auth get-or-create client.rgw.test mon 'allow rw' osd 'allow rwx' > "$dir/client.rgw.test.keyring"
radosgw --conf "$conf" -n client.rgw.test </dev/null >>"$dir/log/daemons.out" 2>&1 || fail "radosgw did not start"
until_ok "$timeout" rgw_answers "$rgw_port" || fail "radosgw does not answer on 127.0.0.1:$rgw_port"
step "radosgw answers on 127.0.0.1:$rgw_port"
radosgw-admin --conf "$conf" user create --uid=postmortem-test --display-name='postmortem tests' \
  --access-key="$access_key" --secret-key="$secret_key" >"$dir/log/user.json" 2>>"$dir/log/radosgw-admin.out" ||
  fail "radosgw-admin user create failed"

cat > "$dir/s3.json" <<JSON
{
  "endpoint": "http://127.0.0.1:$rgw_port",
  "region": "us-east-1",
  "accessKeyId": "$access_key",
  "secretAccessKey": "$secret_key",
  "kmsKeyId": "$kms_key_id"
}
JSON
rm -f "$dir/run/start.pid"
step "ready: http://127.0.0.1:$rgw_port (credentials in $dir/s3.json)"
