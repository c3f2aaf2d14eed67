#!/usr/bin/env bash
# Installs the packages scripts/package.sh built (in DIST, default dist/) into a fresh, minimal
# Debian root and checks them there, as on a clean machine:
#   - apt installs both, pulling in exactly the dependencies the packages declare;
#   - `tessera --version` prints the packaged version;
#   - the server started as its systemd unit says (its user, its ExecStart, /etc/default/tessera)
#     answers /api/health, keeping its data 0700 in /var/lib/tessera; systemd-analyze accepts
#     the unit;
#   - the desktop app starts under Xvfb and opens its window, with WebKit running its web view.
# The root is made by debootstrap (minbase; the Debian release of this machine), cached as a
# tarball outside the clone and unpacked fresh each run. Runs as root, in its own mount, PID and
# (for the server) network namespaces, so nothing it starts outlives it.
set -euo pipefail
cd "$(dirname "$0")/.."

dist=$(cd "${1:-dist}" && pwd)
[ "$(id -u)" -eq 0 ] || exec sudo --preserve-env=HOME "$0" "$dist"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
arch=$(dpkg --print-architecture)
server_deb="$dist/tessera-server_${version}_${arch}.deb"
desktop_deb="$dist/tessera-desktop_${version}_${arch}.deb"
for deb in "$server_deb" "$desktop_deb"; do
  [ -s "$deb" ] || { echo "check-packages: $deb is missing (run scripts/package.sh first)"; exit 1; }
done

command -v debootstrap >/dev/null || scripts/setup.sh test
# shellcheck disable=SC1091
. /etc/os-release
suite="$VERSION_CODENAME"
case "$ID" in
  ubuntu) mirror="http://archive.ubuntu.com/ubuntu" ;;
  *) mirror="http://deb.debian.org/debian" ;;
esac
cache="${TESSERA_PACKAGE_CACHE:-$HOME/.cache/tessera/packages}"
mkdir -p "$cache/apt-archives"
base="$cache/$ID-$suite-minbase.tar"
if [ ! -s "$base" ]; then
  echo "check-packages: making a minimal $ID $suite root with debootstrap (cached in $base)"
  fresh=$(mktemp -d /tmp/tessera-debootstrap.XXXXXX)
  debootstrap --variant=minbase "$suite" "$fresh" "$mirror" >"$fresh.log" 2>&1 ||
    { tail -n 20 "$fresh.log"; exit 1; }
  tar -C "$fresh" -cf "$base.tmp" . && mv "$base.tmp" "$base"
  rm -rf "$fresh" "$fresh.log"
fi

root=$(mktemp -d /tmp/tessera-root.XXXXXX)
trap 'rm -rf --one-file-system "$root"' EXIT
tar -C "$root" -xf "$base"
chmod 755 "$root" # a root directory, not mktemp's private one
mkdir -p "$root/tmp/packages"
cp "$server_deb" "$desktop_deb" "$root/tmp/packages/"
cp /etc/resolv.conf "$root/etc/resolv.conf"

# Everything below runs in new mount and PID namespaces: the bind mounts vanish and every
# process started in the root dies when it ends.
unshare --mount --pid --fork --propagation private -- bash -euo pipefail -s "$root" "$cache" "$version" "$arch" <<'INNER'
root="$1" cache="$2" version="$3" arch="$4"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t sysfs sys "$root/sys"
mount --bind "$cache/apt-archives" "$root/var/cache/apt/archives"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }

echo "check-packages: installing both packages with apt"
# The root's apt runs as root: its _apt user cannot reach the cache this script binds in.
apt_opts=(-qq -o APT::Sandbox::User=root)
in_root apt-get "${apt_opts[@]}" update
in_root env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y --no-install-recommends \
  "/tmp/packages/tessera-server_${version}_$arch.deb" "/tmp/packages/tessera-desktop_${version}_$arch.deb" \
  curl xvfb xauth x11-utils systemd >/dev/null

echo "check-packages: tessera --version"
printed=$(in_root tessera --version)
echo "  $printed"
[ "$printed" = "tessera $version" ] || { echo "check-packages: expected 'tessera $version'"; exit 1; }

echo "check-packages: the systemd unit"
in_root systemd-analyze verify /lib/systemd/system/tessera.service
unit="$root/lib/systemd/system/tessera.service"
user=$(sed -n 's/^User=//p' "$unit")
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
owner=$(in_root stat -c '%U %a' /var/lib/tessera)
[ "$owner" = "$user 700" ] || { echo "check-packages: /var/lib/tessera is $owner, not $user's with mode 700"; exit 1; }

echo "check-packages: the server as the unit starts it answers /api/health"
# Its own network namespace: the default address 127.0.0.1:7450 is free there whatever this
# machine runs.
unshare --net -- bash -euo pipefail -s "$root" "$user" "$exec_start" <<'SERVE'
root="$1" user="$2" exec_start="$3"
ip link set lo up
chroot "$root" /bin/sh -c "set -a; . /etc/default/tessera; set +a; cd /var/lib/tessera; exec runuser -u $user -- $exec_start" >"$root/tmp/server.log" 2>&1 &
server=$!
health=""
for _ in $(seq 1 100); do
  health=$(chroot "$root" curl -fsS http://127.0.0.1:7450/api/health 2>/dev/null) && break
  kill -0 "$server" 2>/dev/null || { echo "check-packages: the server exited:"; cat "$root/tmp/server.log"; exit 1; }
  sleep 0.2
done
[ -n "$health" ] || { echo "check-packages: no answer on /api/health:"; cat "$root/tmp/server.log"; exit 1; }
echo "  /api/health: $health"
owner=$(chroot "$root" stat -c '%U %a' /var/lib/tessera/admin.token)
[ "$owner" = "$user 600" ] || { echo "check-packages: the admin token is $owner, not $user's with mode 600"; exit 1; }
kill -TERM "$server"
wait "$server" || true
SERVE

echo "check-packages: the desktop app opens its window under Xvfb"
in_root /bin/sh -c 'Xvfb :99 -screen 0 1280x800x24 -nolisten tcp >/tmp/xvfb.log 2>&1 &
  mkdir -p /tmp/home
  DISPLAY=:99 HOME=/tmp/home tessera-desktop >/tmp/desktop.log 2>&1 &
  app=$!
  for _ in $(seq 1 150); do
    if DISPLAY=:99 xwininfo -root -tree 2>/dev/null | grep -q "\"Tessera\""; then
      sleep 2
      kill -0 "$app" || { echo "check-packages: the app exited after opening its window:"; cat /tmp/desktop.log; exit 1; }
      # The window holds a web view: WebKit started its web content process for it.
      grep -qs WebKitWebProcess /proc/[0-9]*/cmdline ||
        { echo "check-packages: no WebKit web process beside the window:"; cat /tmp/desktop.log; exit 1; }
      echo "  window \"Tessera\" open, its web view running"
      exit 0
    fi
    kill -0 "$app" 2>/dev/null || { echo "check-packages: the app exited:"; cat /tmp/desktop.log; exit 1; }
    sleep 0.2
  done
  echo "check-packages: no Tessera window after 30 s:"; cat /tmp/desktop.log; exit 1'
INNER
echo "check-packages: both packages install and run on a fresh $ID $suite"
