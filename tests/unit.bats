#!/usr/bin/env bats
# Unit tests of the common library's parsers (built by "make unit").

load lib

@test "unit: RFC 5321 path parser" {
	run "$PH_BUILD/tests/test_addr"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "unit: buffers, records, queue files, queue IDs" {
	run "$PH_BUILD/tests/test_record"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "unit: posthorn.conf parser and text maps" {
	run "$PH_BUILD/tests/test_conf"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "unit: queue files keep the last deferral reason per recipient; a torn one is ignored" {
	run "$PH_BUILD/tests/test_queuefile"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "unit: milter protocol packets, replies and the smtpd_milters list" {
	run "$PH_BUILD/tests/test_milter"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "unit: MTA-STS policies, mx patterns and TXT records" {
	run "$PH_BUILD/tests/test_mtasts"
	echo "$output"
	[ "$status" -eq 0 ]
}
