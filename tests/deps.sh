#!/bin/sh
# Install the named Debian packages that are missing (as root), or say
# exactly which are missing and how to install them (as anyone else).
missing=
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
	echo "posthorn: installing missing packages:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing ||
		{ echo "posthorn: apt-get install failed" >&2; exit 1; }
	exit 0
fi
echo "posthorn: missing Debian packages:$missing" >&2
echo "posthorn: run as root:  apt-get install$missing" >&2
exit 1
