#!/usr/bin/env bash
# Builds Tessera's installable packages into OUT_DIR (default dist/):
#   tessera-desktop_<version>_<arch>.deb  the desktop app, built by Tauri's bundler;
#   tessera-server_<version>_<arch>.deb   the release `tessera` binary with a systemd unit and a
#                                         default config (packaging/server), built by dpkg-deb,
#                                         its library dependencies found by dpkg-shlibdeps.
# scripts/check-packages.sh installs both into a fresh Debian root and checks they run.
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-dist}"
mkdir -p "$out"
out=$(cd "$out" && pwd)

scripts/setup.sh package
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
arch=$(dpkg --print-architecture)
[ -n "$version" ] || { echo "package: no workspace version in Cargo.toml"; exit 1; }

echo "package: the desktop app $version (release build and Tauri's .deb bundler)"
(cd ui && npm run --silent build)
rm -rf "$target_dir/release/bundle/deb"
(cd ui && TAURI_APP_PATH=../src-tauri npx --no-install tauri build --bundles deb --ci)
desktop_deb=$(ls "$target_dir"/release/bundle/deb/*_"$version"_"$arch".deb)
# Tauri names the package after the product ("tessera"); it is the desktop app, and `tessera`
# is the server's command, so rename it tessera-desktop (files and checksums unchanged).
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
dpkg-deb --raw-extract "$desktop_deb" "$stage/tessera-desktop"
sed -i 's/^Package: .*/Package: tessera-desktop/' "$stage/tessera-desktop/DEBIAN/control"
dpkg-deb --root-owner-group --build -Zxz "$stage/tessera-desktop" "$out/tessera-desktop_${version}_${arch}.deb" >/dev/null

echo "package: the server $version (release build, systemd unit, default config)"
cargo build --release --locked -p tessera-cli
root="$stage/tessera-server"
install -D -m 0755 "$target_dir/release/tessera" "$root/usr/bin/tessera"
strip --strip-unneeded "$root/usr/bin/tessera"
install -D -m 0644 packaging/server/tessera.service "$root/lib/systemd/system/tessera.service"
install -D -m 0644 packaging/server/tessera.default "$root/etc/default/tessera"
install -D -m 0644 LICENSE "$root/usr/share/doc/tessera-server/copyright"
for page in operations security cli; do
  install -D -m 0644 "docs/$page.md" "$root/usr/share/doc/tessera-server/$page.md"
done
install -d "$root/DEBIAN"
install -m 0755 packaging/server/postinst packaging/server/prerm packaging/server/postrm "$root/DEBIAN/"
echo /etc/default/tessera >"$root/DEBIAN/conffiles"

# dpkg-shlibdeps reads a source package's control file; give it a minimal one.
mkdir -p "$stage/debian"
printf 'Source: tessera\n\nPackage: tessera-server\nArchitecture: any\n' >"$stage/debian/control"
depends=$(cd "$stage" && dpkg-shlibdeps -O tessera-server/usr/bin/tessera 2>/dev/null |
  sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "package: dpkg-shlibdeps found no dependencies"; exit 1; }
installed_kib=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: tessera-server
Version: $version
Architecture: $arch
Maintainer: Tessera developers <tessera@localhost>
Installed-Size: $installed_kib
Depends: $depends, passwd
Section: net
Priority: optional
Description: Tessera queue server and command line
 The queue server of Tessera, an offline-first crowdsourcing and labeling system: it leases
 tasks to annotators with redundancy, accepts their synced answers and merges them into
 consensus labels. Runs on an embedded SQLite database or on PostgreSQL. The same binary is
 the requester's command line and a terminal annotator.
EOF
dpkg-deb --root-owner-group --build -Zxz "$root" "$out/tessera-server_${version}_${arch}.deb" >/dev/null

echo "package: built into $out"
ls -l "$out"/*.deb
