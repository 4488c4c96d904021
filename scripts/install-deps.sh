#!/bin/sh
# Installs the Debian packages jitsu needs for a target that are missing.
# Usage: scripts/install-deps.sh build|check|lint|bench|fuzz|valgrind ...
# Idempotent and quiet when everything is present; needs root to install.
set -eu

build="meson ninja-build pkg-config gcc libc6-dev nettle-dev libssl-dev
       libjansson-dev liboath-dev libqrencode-dev libcmocka-dev libseccomp-dev scdoc
       libmicrohttpd-dev libsqlite3-dev libpq-dev libcurl4-openssl-dev
       curl python3 libseccomp-dev"
check="$build python3 python3-pytest oathtool qrencode zbar-tools clang libclang-rt-14-dev
       procps util-linux postgresql libfaketime"
lint="$build clang-format clang-tidy cppcheck"
bench="$build sudo opendoas s6 hyperfine procps python3"
fuzz="$build clang libclang-rt-14-dev"
valgrind="$build valgrind python3-pytest procps util-linux"

want=""
for target in "$@"; do
	eval "want=\"\$want \$$target\""
done

missing=""
for p in $want; do
	case " $missing " in *" $p "*) continue ;; esac
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi
echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
