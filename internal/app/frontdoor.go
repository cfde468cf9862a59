package app

import (
	"context"
	"math/rand/v2"
	"net"

	"connectrpc.com/grpchealth"

	"github.com/beacon/eventdispatch/internal/access"
	"github.com/beacon/eventdispatch/internal/eliza"
	"github.com/beacon/eventdispatch/internal/frontdoor"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
	"github.com/beacon/eventdispatch/internal/httpserve"
	"github.com/beacon/eventdispatch/internal/kafkabus"
	"github.com/beacon/eventdispatch/internal/kafkaqueue"
	"github.com/beacon/eventdispatch/internal/lifecycle"
	"github.com/beacon/eventdispatch/internal/queue"
	"github.com/beacon/eventdispatch/internal/transcript"
	"github.com/beacon/eventdispatch/internal/webui"
)

// AddFrontDoor adds the RPC server on ADDR: ElizaService over Connect, gRPC and gRPC-Web, with
// reflection and health; callers authenticated as AUTH says and held to their quotas, their
// tokens and usage in the Postgres at databaseURL (UsageService, which says so when there is
// none); the chat page at "/" (WEB_UI); and queued conversations: jobs to bus, the
// conversations' record in store. It returns the address it listens on.
//
// On shutdown gRPC health turns NOT_SERVING with /readyz, the streams of queued conversations
// are ended for their clients to resume elsewhere (frontdoor.Service.Drain), and the server
// stops accepting and lets the other requests and streams finish until the drain ends; the
// transcript's listener (a store that has one, pgtranscript) stops only after that, so
// streams finishing still get their events.
func (s *System) AddFrontDoor(ctx context.Context, cfg FrontDoor, databaseURL string, topics QueueTopics, bus *kafkabus.Bus, store transcript.Store) (net.Addr, error) {
	auth, quotas, usage, err := s.openAccess(ctx, cfg, databaseURL)
	if err != nil {
		return nil, err
	}
	ln, err := s.Listen(ctx, "rpc (ADDR)", cfg.Addr)
	if err != nil {
		return nil, err
	}
	jobs := bus.Writer(topics.Jobs)
	s.OnClose(func() { _ = jobs.Close() })
	service := frontdoor.NewService(func() frontdoor.Responder { return eliza.New(rand.Uint64()) }).WithQueue(&frontdoor.Queue{
		Jobs:           kafkaqueue.Jobs{W: jobs},
		Transcript:     store,
		Gate:           queue.NewGate(cfg.MaxInflight),
		Limit:          cfg.QueueLimit,
		EnqueueTimeout: cfg.EnqueueTimeout,
		Quotas:         quotas,
		Usage:          usage,
		Metrics:        frontdoor.NewAdmissionMetrics(s.Registry),
		Log:            s.Log,
	}).WithDrainWait(min(frontdoor.DefaultDrainWait, s.ShutdownGrace()/4))
	health := grpchealth.NewStaticChecker(elizav1connect.ElizaServiceName)
	opts := frontdoor.Options{
		Service: service, Health: health, Metrics: frontdoor.NewMetrics(s.Registry), Log: s.Log,
		AllowedOrigins: cfg.CORSAllowedOrigins, Auth: auth.Interceptor(), Drain: service.Draining(),
		// Within the grace, however short (standalone's 5 s): a held connection is cut at
		// twice the wait.
		StuckWriteWait: min(frontdoor.StuckWriteWait, s.ShutdownGrace()/3),
		// Within the grace too, beside what the stages after this one need of it.
		ReflectionLinger: min(frontdoor.ReflectionLinger, s.ShutdownGrace()/5),
	}
	if cfg.WebUI {
		opts.Page = webui.Handler()
	}
	opts.Usage = &frontdoor.UsageService{} // without a database, it says usage is not kept
	if usage != nil {
		opts.Usage = &frontdoor.UsageService{Store: usage.Store(), AuthOff: cfg.Auth == access.Off}
	}
	srv := frontdoor.NewServer(cfg.Addr, frontdoor.NewHandler(opts))
	s.onDraining(func() {
		health.SetStatus("", grpchealth.StatusNotServing)
		health.SetStatus(elizav1connect.ElizaServiceName, grpchealth.StatusNotServing)
		service.Drain()
	})
	s.addIntake(lifecycle.Task{Name: "rpc", Run: func(ctx, drain context.Context) error {
		return httpserve.Serve(ctx, drain, s.Log, "rpc", srv, frontdoor.CutStuckConns(ln, opts.Drain, opts.StuckWriteWait, s.Log))
	}})
	// Jobs can be queued before any dispatcher has created the topic. (The task then idles:
	// a task that returns stops the process.)
	s.addWork(task("jobs topic", func(ctx context.Context) error {
		if _, err := bus.AwaitTopics(ctx, s.Log, "JOBS_TOPIC", topics.Jobs); err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	}))
	if l, ok := store.(listener); ok {
		s.addWork(task("transcript listener", l.Listen))
	}
	return ln.Addr(), nil
}

// listener is a transcript store whose watchers need a task of their own (pgtranscript's
// LISTEN connection).
type listener interface {
	Listen(ctx context.Context) error
}
