package main

import (
	"context"
	"strings"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
)

// dispatcherEnv is the configuration a benchmark gives a dispatcher.
type dispatcherEnv struct {
	DatabaseURL string
	Brokers     []string
	Topic       string
	Group       string
}

// startDispatcher runs the dispatcher binary bin with env, its output going to logPath. Stop
// must be called.
func startDispatcher(ctx context.Context, bin string, env dispatcherEnv, logPath string) (*benchkit.Process, error) {
	return benchkit.StartProcess(ctx, benchkit.ProcessConfig{
		Name: "dispatcher", Path: bin, Log: logPath,
		Env: []string{
			"KAFKA_BROKERS=" + strings.Join(env.Brokers, ","),
			"DATABASE_URL=" + env.DatabaseURL,
			"SIGNAL_TOPIC=" + env.Topic,
			"GROUP_ID=" + env.Group,
			"KAFKA_SESSION_TIMEOUT=6s",
			"SHUTDOWN_GRACE=10s",
		},
	})
}
