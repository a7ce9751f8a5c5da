#!/usr/bin/env bats
# The manual: every page is clean mdoc, and every program, tool and
# configuration file has one.

load lib

@test "every man page passes mandoc -Tlint at warning level" {
	command -v mandoc >/dev/null || skip "mandoc missing"
	run mandoc -Tlint -Wwarning "$PH_SRC"/man/*.[1-8]
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "every installed program, tool and configuration file has a page" {
	for p in "$PH_LIBEXEC"/* "$PH_BUILD"/bin/*; do
		n=$(basename "$p")
		# Its own page, or named in another's NAME (mailq, newaliases).
		[ -e "$PH_SRC/man/$n.8" ] ||
		    grep -qE "^\.Nm $n( ,)?\$" "$PH_SRC"/man/*.8 || {
			echo "no man page for $n"
			return 1
		}
	done
	for f in posthorn.conf master.conf; do
		[ -e "$PH_SRC/man/$f.5" ]
	done
}
