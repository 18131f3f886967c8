package main

// TIME_WAIT sockets, from what /proc/net says.

import (
	"os"
	"strconv"
	"strings"
)

// timeWaitTo returns the TCP sockets in TIME_WAIT whose remote port is port,
// by local address: connections that a client of that port closed in the
// last 60 s. Those in a later set and not in an earlier one were closed in
// between (see [closedSince]); many of them mean the client does not keep
// its connections alive.
func timeWaitTo(port int) map[string]bool {
	set := map[string]bool{}
	for _, path := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(b)) {
			f := strings.Fields(line)
			if len(f) < 4 || f[3] != "06" { // 06 is TCP_TIME_WAIT
				continue
			}
			_, rport, ok := strings.Cut(f[2], ":")
			if p, err := strconv.ParseInt(rport, 16, 32); ok && err == nil && int(p) == port {
				set[f[1]] = true
			}
		}
	}
	return set
}

// closedSince counts the sockets of after that are not in before.
func closedSince(before, after map[string]bool) int {
	n := 0
	for k := range after {
		if !before[k] {
			n++
		}
	}
	return n
}
