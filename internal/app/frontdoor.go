package app

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"

	"connectrpc.com/grpchealth"

	"github.com/beacon/eventdispatch/internal/eliza"
	"github.com/beacon/eventdispatch/internal/frontdoor"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
	"github.com/beacon/eventdispatch/internal/httpserve"
	"github.com/beacon/eventdispatch/internal/kafkabus"
	"github.com/beacon/eventdispatch/internal/kafkaqueue"
	"github.com/beacon/eventdispatch/internal/lifecycle"
	"github.com/beacon/eventdispatch/internal/queue"
)

// AddFrontDoor adds the RPC server on ADDR: ElizaService over Connect, gRPC and gRPC-Web, with
// reflection and health, and QueueConversation's jobs and replies on bus. It returns the
// address it listens on.
//
// On shutdown gRPC health turns NOT_SERVING with /readyz, the server stops accepting and lets
// open streams finish until the drain ends; the reply router stops only after that, so
// streams finishing still get their replies.
func (s *System) AddFrontDoor(ctx context.Context, cfg FrontDoor, topics QueueTopics, bus *kafkabus.Bus) (net.Addr, error) {
	ln, err := s.Listen(ctx, "rpc (ADDR)", cfg.Addr)
	if err != nil {
		return nil, err
	}
	instance := instanceName()
	router := kafkaqueue.NewRouter(bus, topics.Replies, instance, 4*cfg.QueueLimit+16, s.Registry, s.Log)
	jobs := bus.Writer(topics.Jobs)
	s.OnClose(func() { _ = jobs.Close() })
	service := frontdoor.NewService(func() frontdoor.Responder { return eliza.New(rand.Uint64()) }).WithQueue(&frontdoor.Queue{
		Jobs:           kafkaqueue.Jobs{W: jobs},
		Replies:        router,
		Gate:           queue.NewGate(cfg.QueueLimit, cfg.MaxInflight),
		Instance:       instance,
		MaxHistory:     cfg.ContextTurns,
		EnqueueTimeout: cfg.EnqueueTimeout,
		Log:            s.Log,
	})
	health := grpchealth.NewStaticChecker(elizav1connect.ElizaServiceName)
	srv := frontdoor.NewServer(cfg.Addr, frontdoor.NewHandler(frontdoor.Options{
		Service: service, Health: health, Metrics: frontdoor.NewMetrics(s.Registry), Log: s.Log,
	}))
	s.onDraining(func() {
		health.SetStatus("", grpchealth.StatusNotServing)
		health.SetStatus(elizav1connect.ElizaServiceName, grpchealth.StatusNotServing)
	})
	s.addIntake(lifecycle.Task{Name: "rpc", Run: func(ctx, drain context.Context) error {
		return httpserve.Serve(ctx, drain, s.Log, "rpc", srv, ln)
	}})
	s.addWork(task("reply router", func(ctx context.Context) error {
		bus.AwaitTopics(ctx, s.Log, topics.Jobs, topics.Replies)
		return router.Run(ctx)
	}))
	return ln.Addr(), nil
}

// instanceName names this process in jobs' reply_to: the host (the pod, in Kubernetes) and a
// random suffix, so a restarted process never receives its predecessor's replies.
func instanceName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "frontdoor"
	}
	return fmt.Sprintf("%s-%08x", host, rand.Uint32())
}
