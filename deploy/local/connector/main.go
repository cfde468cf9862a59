// Command connector keeps the local stack's Debezium connector registered with Kafka Connect.
// deploy/local/stack.sh builds and runs it; it is the one place that reads the connector file
// and Connect's REST API, and it parses both as JSON.
//
// The connector file (deploy/local/debezium-connector.json) is flat, as Connect's
// PUT /connectors/NAME/config takes it: its "name" key names the connector, and the whole
// object is the config. Commands:
//
//	connector [flags] name      print the connector's name
//	connector [flags] register  make Connect's config match the file (PUT only when they
//	                            differ), restart failed parts, wait until RUNNING and, if
//	                            the connector has written heartbeats, for a recent one
//	connector [flags] status    print "up|down<TAB>NAME<TAB>description" for stack.sh status
//
// status believes Connect's RUNNING only with a recent Debezium heartbeat (heartbeat.go): a
// task whose newest heartbeat is older than three heartbeat intervals is shown down, as
// stalled, whatever Connect's status topic says.
//
// register compares the registered config with the file's as JSON objects: key order,
// spacing and 1 versus "1" (Connect stores every value as a string) make no difference. A
// PUT answered 409 (the Connect worker is rebalancing) or 5xx, or not answered, is retried
// until -timeout; any other 4xx fails at once with Connect's message. With -dry-run it only
// says whether it would register, and which keys differ.
//
// Progress lines go to stdout, one per step, without a prefix: stack.sh logs them with its
// own. The error that ends a run goes to stderr. Exit status: 0 done, 1 failed, 2 usage,
// 3 failed in a way Connect's log explains (stack.sh then shows the log's last lines).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Exit statuses; see the package documentation.
const (
	exitFailed     = 1
	exitUsage      = 2
	exitSeeConnect = 3
)

// exitError ends the program with a status and a message for stderr.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// failed returns an error that exits with status 1.
func failed(format string, args ...any) error {
	return &exitError{code: exitFailed, msg: fmt.Sprintf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err == nil {
		return
	}
	code := exitFailed
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	fmt.Fprintln(os.Stderr, err)
	os.Exit(code)
}

// run parses args, runs one command and writes its output to out.
func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("connector", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	file := fs.String("file", "deploy/local/debezium-connector.json", "the connector file (flat JSON with \"name\")")
	connectURL := fs.String("url", "http://127.0.0.1:8083", "Kafka Connect's REST API")
	timeout := fs.Duration("timeout", 120*time.Second, "register: deadline for registering, and again for RUNNING")
	topic := fs.String("topic", "postgres.datastore.signal", "the topic the connector writes, for messages")
	broker := fs.String("broker", "127.0.0.1:9092", "register, status: a Kafka broker, to read the connector's heartbeat topic")
	connectLog := fs.String("connect-log", "the Connect log", "Connect's log file, named in error messages")
	dryRun := fs.Bool("dry-run", false, "register: compare and report, change nothing")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		return &exitError{code: exitUsage, msg: usage(err)}
	}
	s, err := loadSpec(*file)
	if err != nil {
		return failed("%v", err)
	}
	c := &client{base: strings.TrimRight(*connectURL, "/"), name: s.name, http: http.DefaultClient}
	switch fs.Arg(0) {
	case "name":
		_, err := fmt.Fprintln(out, s.name)
		return err
	case "status":
		_, err := fmt.Fprintln(out, statusLine(ctx, c, *topic, *broker, heartbeatOf(s.config)))
		return err
	case "register":
		r := newRegistrar(c, s, out)
		r.timeout, r.topic, r.connectLog, r.dryRun = *timeout, *topic, *connectLog, *dryRun
		r.broker, r.heartbeat = *broker, heartbeatOf(s.config)
		return r.register(ctx)
	}
	return &exitError{code: exitUsage, msg: usage(fmt.Errorf("unknown command %q", fs.Arg(0)))}
}

// usage is the usage message, after err when there is one.
func usage(err error) string {
	msg := `usage: connector [-file F] [-url U] [-timeout D] [-topic T] [-broker B] [-connect-log L] [-dry-run] name|register|status`
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		msg = err.Error() + "\n" + msg
	}
	return msg
}

// statusLine is the connector's row for `stack.sh status`: up or down, its name, and what
// Connect says of it; RUNNING is up only if the task's heartbeat (hb, read from broker) is
// recent.
func statusLine(ctx context.Context, c *client, topic, broker string, hb heartbeat) string {
	st, err := c.status(ctx)
	switch {
	case errors.Is(err, errNotFound):
		return "down\t" + c.name + "\tnot registered"
	case err != nil:
		return "down\t" + c.name + "\tstatus unknown: " + err.Error()
	case !st.running():
		return "down\t" + c.name + "\t" + st.describe()
	case hb.interval == 0:
		return "up\t" + c.name + "\t" + st.describe() + " -> topic " + topic
	}
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	at, err := lastHeartbeat(ctx, broker, hb.topic)
	switch age := time.Since(at).Round(time.Second); {
	case errors.Is(err, errNoHeartbeat):
		return "up\t" + c.name + "\t" + st.describe() + ", no heartbeat yet -> topic " + topic
	case err != nil:
		return "down\t" + c.name + "\t" + st.describe() + ", heartbeat unknown: " + err.Error()
	case age > heartbeatsMissed*hb.interval:
		return fmt.Sprintf("down\t%s\tstalled: %s per Connect, but no heartbeat for %s (expected every %s; "+
			"see the Connect log for a pending rebalance, or a replication slot it cannot obtain: docs/operations.md, "+
			"\"Capture stopped\")", c.name, st.describe(), age, hb.interval)
	default:
		return fmt.Sprintf("up\t%s\t%s, heartbeat %s ago -> topic %s", c.name, st.describe(), age, topic)
	}
}
