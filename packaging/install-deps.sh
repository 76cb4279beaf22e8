#!/bin/sh
# Installs the Debian/Ubuntu packages Outpost's tests and `make run` need,
# when they are missing. As root it uses apt-get; otherwise it lists what is
# missing and leaves it (the tests that need those skip, and fail under CI=true).
#
# Later issues extend PACKAGES. Package names only: mirrors come from the
# machine's own apt configuration.
set -eu

PACKAGES="
runc
containernetworking-plugins
busybox-static
mosquitto
nftables
iproute2
ca-certificates
docker-registry
containerd
kmod
qemu-system-x86
dmsetup
mmdebstrap
systemd-container
"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	exit 0
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "install-deps: missing packages:$missing (run as root on Debian/Ubuntu to install them)" >&2
	exit 0
fi

echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# Do not let package scripts start services (mosquitto): tests start their own.
policy=/usr/sbin/policy-rc.d
created_policy=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	created_policy=1
fi
trap '[ -n "$created_policy" ] && rm -f "$policy"' EXIT
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
