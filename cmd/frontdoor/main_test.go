package main_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/proctest"
)

// builds are the binaries these tests start, built once for all of them.
var builds proctest.Builds

func TestMain(m *testing.M) { builds.Main(m) }

type frontdoor struct {
	proc  *proctest.Proc
	rpc   string
	admin string
}

func startFrontdoor(t *testing.T, grace string) frontdoor {
	t.Helper()
	bin := builds.Build(t, "./cmd/frontdoor")
	f := frontdoor{rpc: proctest.FreeAddr(t), admin: proctest.FreeAddr(t)}
	f.proc = proctest.Start(t, bin, "ADDR="+f.rpc, "ADMIN_ADDR="+f.admin, "SHUTDOWN_GRACE="+grace, "LOG_LEVEL=debug")
	proctest.WaitHTTP(t, "http://"+f.admin+"/readyz", 20*time.Second)
	return f
}

func grpcClient(addr string) elizav1connect.ElizaServiceClient {
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	return elizav1connect.NewElizaServiceClient(&http.Client{Transport: &http.Transport{Protocols: &h2c}}, "http://"+addr, connect.WithGRPC())
}

func converse(t *testing.T, stream *connect.BidiStreamForClient[elizav1.ConverseRequest, elizav1.ConverseResponse], sentence string) {
	t.Helper()
	if err := stream.Send(&elizav1.ConverseRequest{Sentence: sentence}); err != nil {
		t.Fatalf("send %q: %v", sentence, err)
	}
	if res, err := stream.Receive(); err != nil || res.GetSentence() == "" {
		t.Fatalf("reply to %q: %q %v", sentence, res.GetSentence(), err)
	}
}

func TestFrontdoor_SIGTERMLetsAnOpenStreamFinishThenExitsZero(t *testing.T) {
	f := startFrontdoor(t, "30s")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stream := grpcClient(f.rpc).Converse(ctx)
	converse(t, stream, "I am worried")

	f.proc.Signal(t, syscall.SIGTERM)
	waitNotReady(t, f.admin)
	// /readyz fails first, then the RPC listener closes (after the drain's first steps): a
	// dial in between still connects.
	kafkatest.Eventually(t, 2*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", f.rpc, time.Second)
		if err == nil {
			_ = c.Close()
		}
		return err != nil
	}, func() string { return "the RPC port still accepts connections 2 s into the drain" })
	converse(t, stream, "still there?") // the open stream keeps working during the grace period
	if err := stream.CloseRequest(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Receive(); !errors.Is(err, io.EOF) {
		t.Fatalf("want the stream to end cleanly, got %v", err)
	}
	// With the last stream done the process need not wait out the 30 s grace.
	if code := f.proc.Wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if !strings.Contains(f.proc.Output(), "shut down cleanly") {
		t.Errorf("log lacks the clean shutdown line:\n%s", f.proc.Output())
	}
}

func TestFrontdoor_SIGTERMExitsZeroWhenGraceRunsOutOnAnIdleStream(t *testing.T) {
	f := startFrontdoor(t, "1s")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stream := grpcClient(f.rpc).Converse(ctx)
	converse(t, stream, "hello")

	f.proc.Signal(t, syscall.SIGTERM)
	if code := f.proc.Wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if _, err := stream.Receive(); err == nil {
		t.Fatal("the stream should have been cut when the grace period ran out")
	}
}

func TestFrontdoor_RejectsBadConfigurationNamingTheVariable(t *testing.T) {
	bin := builds.Build(t, "./cmd/frontdoor")
	cases := map[string][]string{
		"SHUTDOWN_GRACE": {"SHUTDOWN_GRACE=soon"},
		"LOG_LEVEL":      {"LOG_LEVEL=chatty"},
		"LOG_FORMAT":     {"LOG_FORMAT=xml"},
		// A page's address, not its origin: browsers send scheme://host[:port] only.
		"CORS_ALLOWED_ORIGINS": {"CORS_ALLOWED_ORIGINS=https://chat.example.com,https://chat.example.com/app"},
	}
	for name, env := range cases {
		p := proctest.Start(t, bin, append(env, "ADDR="+proctest.FreeAddr(t), "ADMIN_ADDR="+proctest.FreeAddr(t))...)
		if code := p.Wait(t, 10*time.Second); code == 0 {
			t.Errorf("%s: exit code 0, want failure", name)
		}
		if !strings.Contains(p.Output(), name) {
			t.Errorf("%s: error does not name the variable: %s", name, p.Output())
		}
	}
}

// The services take no arguments: -h lists what they read and exits without starting, and
// anything else is refused rather than ignored (`migrate down` used to migrate up).
func TestFrontdoor_HelpListsTheVariablesAndOtherArgumentsAreRefused(t *testing.T) {
	bin := builds.Build(t, "./cmd/frontdoor")
	admin := proctest.FreeAddr(t)
	p := proctest.StartArgs(t, bin, []string{"-h"}, "ADDR="+proctest.FreeAddr(t), "ADMIN_ADDR="+admin)
	if code := p.Wait(t, 10*time.Second); code != 0 || !strings.Contains(p.Output(), "ENQUEUE_TIMEOUT") || strings.Contains(p.Output(), "starting") {
		t.Fatalf("-h: exit code %d, printed:\n%s\nwant 0 and the variables, without starting", code, p.Output())
	}
	p = proctest.StartArgs(t, bin, []string{"--grace", "5s"}, "ADDR="+proctest.FreeAddr(t), "ADMIN_ADDR="+admin)
	if code := p.Wait(t, 10*time.Second); code != 2 || !strings.Contains(p.Output(), "frontdoor: takes no arguments") {
		t.Fatalf("--grace 5s: exit code %d, printed:\n%s\nwant 2, refused", code, p.Output())
	}
}

func TestFrontdoor_BusyPortIsAClearError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	bin := builds.Build(t, "./cmd/frontdoor")
	p := proctest.Start(t, bin, "ADDR="+ln.Addr().String(), "ADMIN_ADDR="+proctest.FreeAddr(t))
	if code := p.Wait(t, 10*time.Second); code == 0 {
		t.Fatal("exit code 0 with the RPC port taken")
	}
	if out := p.Output(); !strings.Contains(out, "ADDR") || !strings.Contains(out, ln.Addr().String()) {
		t.Fatalf("error does not name the variable and the address: %s", out)
	}
}

func waitNotReady(t *testing.T, admin string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get("http://" + admin + "/readyz")
		if err != nil {
			return // the admin port is gone: not ready either
		}
		res.Body.Close()
		if res.StatusCode == http.StatusServiceUnavailable {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("/readyz still reports ready after SIGTERM")
}
