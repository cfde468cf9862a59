package main

import (
	"bufio"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// tcpTimeWait is the state number of TIME_WAIT in /proc/net/tcp.
const tcpTimeWait = "06"

// timeWaitSockets counts the machine's IPv4 TCP sockets in TIME_WAIT with port at either end:
// connections to or from that port closed in the last minute (Linux keeps them that long).
// It undercounts when the kernel reuses such a socket for a new connection.
func timeWaitSockets(port int) (int, error) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return 0, fmt.Errorf("count TIME_WAIT sockets: %w", err)
	}
	defer f.Close()
	hexPort := fmt.Sprintf(":%04X", port)
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st ...
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[3] != tcpTimeWait {
			continue
		}
		if strings.HasSuffix(fields[1], hexPort) || strings.HasSuffix(fields[2], hexPort) {
			n++
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("count TIME_WAIT sockets: %w", err)
	}
	return n, nil
}

// urlPort returns the port of an http URL such as the fake model's base URL.
func urlPort(raw string) (int, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return 0, fmt.Errorf("parse %q: %w", raw, err)
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		return 0, fmt.Errorf("port of %q: %w", raw, err)
	}
	return p, nil
}
