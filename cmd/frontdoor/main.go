// Command frontdoor serves connectrpc.eliza.v1.ElizaService over Connect, gRPC and gRPC-Web on
// ADDR, with gRPC reflection and health, and /metrics, /healthz and /readyz on ADMIN_ADDR.
// On SIGTERM or SIGINT it reports not-ready, stops accepting, lets open streams finish for up
// to SHUTDOWN_GRACE, then exits 0.
package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"connectrpc.com/grpchealth"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/beacon/eventdispatch/internal/admin"
	"github.com/beacon/eventdispatch/internal/config"
	"github.com/beacon/eventdispatch/internal/eliza"
	"github.com/beacon/eventdispatch/internal/frontdoor"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
	"github.com/beacon/eventdispatch/internal/httpserve"
	"github.com/beacon/eventdispatch/internal/logging"
)

type settings struct {
	Addr          string        `env:"ADDR" envDefault:":8080"`
	AdminAddr     string        `env:"ADMIN_ADDR" envDefault:":9090"`
	ShutdownGrace time.Duration `env:"SHUTDOWN_GRACE" envDefault:"20s"`
	Log           logging.Config
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "frontdoor:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.Load[settings]()
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if cfg.ShutdownGrace <= 0 {
		return fmt.Errorf("configuration: SHUTDOWN_GRACE must be positive, got %s", cfg.ShutdownGrace)
	}
	log, err := logging.New(os.Stderr, cfg.Log)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	health := grpchealth.NewStaticChecker(elizav1connect.ElizaServiceName)
	var draining atomic.Bool

	rpcLn, err := httpserve.Listen(ctx, "rpc (ADDR)", cfg.Addr)
	if err != nil {
		return err
	}
	adminLn, err := httpserve.Listen(ctx, "admin (ADMIN_ADDR)", cfg.AdminAddr)
	if err != nil {
		_ = rpcLn.Close()
		return err
	}
	rpcSrv := frontdoor.NewServer(cfg.Addr, frontdoor.NewHandler(frontdoor.Options{
		Service: frontdoor.NewService(func() frontdoor.Responder { return eliza.New(rand.Uint64()) }),
		Health:  health,
		Metrics: frontdoor.NewMetrics(reg),
		Log:     log,
	}))
	adminSrv := admin.NewServer(cfg.AdminAddr, admin.NewHandler(reg, func() error {
		if draining.Load() {
			return errors.New("shutting down")
		}
		return nil
	}))

	// The admin port outlives the RPC port so probes see "not ready" while streams drain.
	g, gctx := errgroup.WithContext(ctx)
	adminCtx, stopAdmin := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAdmin()
	g.Go(func() error {
		<-gctx.Done()
		stop() // a second signal now ends the process at once
		draining.Store(true)
		health.SetStatus("", grpchealth.StatusNotServing)
		health.SetStatus(elizav1connect.ElizaServiceName, grpchealth.StatusNotServing)
		return nil
	})
	g.Go(func() error {
		defer stopAdmin()
		return httpserve.Serve(gctx, log, "rpc", rpcSrv, rpcLn, cfg.ShutdownGrace)
	})
	g.Go(func() error {
		// An admin failure fails the group, which stops the RPC server too.
		return httpserve.Serve(adminCtx, log, "admin", adminSrv, adminLn, cfg.ShutdownGrace)
	})
	if err := g.Wait(); err != nil {
		return err
	}
	log.Info("shut down cleanly")
	return nil
}
