package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
)

// listenerBackends returns, by index in sys.doors, the process id of the Postgres backend
// that serves each front door's transcript listener connection, found by the port its
// proxy connects from. A front door whose listener is not connected is left out.
func listenerBackends(ctx context.Context, databaseURL string, sys *system) (map[int]int, error) {
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("find the listeners' backends: %w", err)
	}
	defer pool.Close()
	pids := map[int]int{}
	for i, d := range sys.doors {
		ports := d.proxy.ServerPorts(listenerApp)
		if len(ports) != 1 {
			continue
		}
		var pid int
		err := pool.QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE client_port = $1 AND application_name = $2`,
			ports[0], listenerApp).Scan(&pid)
		if err != nil {
			return nil, fmt.Errorf("find the backend of front door %d's listener (port %d): %w", i+1, ports[0], err)
		}
		pids[i] = pid
	}
	return pids, nil
}

// backendCPU returns the CPU time used so far by each of the backends (by key, their process
// ids), in nanoseconds (/proc/PID/schedstat): a listener's backend uses milliseconds. A
// backend that has gone is left out.
func backendCPU(pids map[int]int) map[int]time.Duration {
	cpu := map[int]time.Duration{}
	for k, pid := range pids {
		if d, err := benchkit.SchedCPU(pid); err == nil {
			cpu[k] = d
		}
	}
	return cpu
}
