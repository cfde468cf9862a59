package elizacli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/beacon/eventdispatch/internal/access"
	"github.com/beacon/eventdispatch/internal/frontdoor"
	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
)

// DefaultAddr is the server when ELIZA_ADDR is not set.
const DefaultAddr = "localhost:8080"

// Main runs the command with args and returns its exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// SIGTERM (a kill, a terminal closing under a supervisor) ends chat as Ctrl-C does: at
	// once, the terminal given back.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "eliza:", err)
		return exitCode(err)
	}
	return 0
}

// exitCode is the exit status of a command that failed with err: 2 for one used wrongly
// (usageError, or a flag that names nothing, lacks its value or has one of the wrong type), 1
// for anything else, a number too large for its flag among them, as one too large for what
// it sets is (checkLimits).
func exitCode(err error) int {
	if errors.Is(err, strconv.ErrRange) {
		return 1
	}
	if errors.As(err, new(usageError)) || errors.As(err, new(*pflag.NotExistError)) || errors.As(err, new(*pflag.ValueRequiredError)) ||
		errors.As(err, new(*pflag.InvalidValueError)) || errors.As(err, new(*pflag.InvalidSyntaxError)) {
		return 2
	}
	return 1
}

// usageError is a command used wrongly, as eliza says it: a command that names nothing, a wrong
// number of arguments, a flag required or flags that exclude each other. eliza exits 2 for
// it (exitCode), as Go's flag package, the services and most commands do, and 1 for anything
// else (a value refused, the server or the database refusing or unreachable).
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

// server is how the subcommands reach the front door.
type server struct {
	addr  string
	tls   bool
	token givenString // --token
}

// givenString is a flag's string that knows whether it was given, so that a flag given as
// "" is not taken for one not given.
type givenString struct {
	value string
	given bool
}

func (g *givenString) String() string { return g.value }
func (g *givenString) Set(v string) error {
	g.value, g.given = v, true
	return nil
}
func (g *givenString) Type() string { return "string" }

// client returns an ElizaService client over the Connect protocol (plain HTTP/1.1 is enough
// for Say, Send and Watch), with the system's roots under --tls.
func (s *server) client() (elizav1connect.ElizaServiceClient, error) {
	base, httpClient, err := s.base()
	if err != nil {
		return nil, err
	}
	return elizav1connect.NewElizaServiceClient(httpClient, base), nil
}

// base returns the server's URL and the HTTP client that sends the token, if there is one.
func (s *server) base() (string, *http.Client, error) {
	if strings.Contains(s.addr, "://") {
		return "", nil, fmt.Errorf("server address %q (--addr or ELIZA_ADDR): give host:port, and --tls for HTTPS", s.addr)
	}
	// A path, a query or user info after host:port was sent as part of every request's URL:
	// "unimplemented: 404 Not Found" and the like, for a mistyped address.
	if _, port, err := net.SplitHostPort(s.addr); err != nil || port == "" || strings.ContainsAny(s.addr, "/?#@") ||
		strings.ContainsFunc(s.addr, unicode.IsSpace) {
		return "", nil, fmt.Errorf("server address %q (--addr or ELIZA_ADDR): give host:port, such as %s", s.addr, DefaultAddr)
	}
	scheme := "http://"
	if s.tls {
		scheme = "https://"
	}
	if err := s.checkToken(); err != nil {
		return "", nil, err
	}
	token := s.bearer()
	httpClient := http.DefaultClient
	if token != "" {
		httpClient = &http.Client{Transport: access.WithHeader(http.DefaultTransport, "Authorization", "Bearer "+token)}
	}
	return scheme + s.addr, httpClient, nil
}

// bearer is the token sent: --token's, else ELIZA_TOKEN's, else none (""), without the
// spaces and line ends around it (a token read with $(cat file) from a file with CRLF line
// ends keeps its \r), as the server reads it.
func (s *server) bearer() string { return strings.TrimSpace(s.rawToken()) }

// rawToken is the token as given: --token's, even "", else ELIZA_TOKEN's.
func (s *server) rawToken() string {
	if s.token.given {
		return s.token.value
	}
	return os.Getenv("ELIZA_TOKEN")
}

// checkToken refuses the token given, if it cannot be one (the function checkToken).
func (s *server) checkToken() error {
	return checkToken(s.token.given || s.rawToken() != "", s.bearer())
}

// checkToken refuses a token given that cannot be one: blank, or with a control character in
// it, which no header can carry. Before, the first was sent as a malformed token (or, given
// as --token "", not at all: the call went without one), and the second failed as "cannot
// reach" the server.
func checkToken(given bool, token string) error {
	if given && token == "" {
		return errors.New("the token (--token or ELIZA_TOKEN) is blank")
	}
	if i := strings.IndexFunc(token, func(r rune) bool { return r < 0x20 || r == 0x7f }); i >= 0 {
		return fmt.Errorf("the token (--token or ELIZA_TOKEN) has a control character (%q) in it: a token is one line of printable characters", token[i])
	}
	return nil
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	srv := &server{addr: DefaultAddr}
	if a := os.Getenv("ELIZA_ADDR"); a != "" {
		srv.addr = a
	}
	root := &cobra.Command{
		Use:           "eliza",
		Short:         "Talk to the ELIZA front door",
		Long:          "eliza talks to the front door at ELIZA_ADDR (host:port, default " + DefaultAddr + "), over plain HTTP unless --tls.",
		SilenceUsage:  true,
		SilenceErrors: true,
		// The root's flags are parsed before the command is found, so that an unknown one
		// before it is named as such, not taken to have the command's name as its value.
		TraverseChildren: true,
	}
	root.PersistentFlags().StringVar(&srv.addr, "addr", srv.addr, "the front door, host:port (ELIZA_ADDR)")
	root.PersistentFlags().BoolVar(&srv.tls, "tls", false, "use HTTPS, verified against the system's roots")
	// No default shown from ELIZA_TOKEN: help must not print a secret.
	root.PersistentFlags().Var(&srv.token, "token", "the client's token, sent as Authorization: Bearer (default: ELIZA_TOKEN)")
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	db := newDatabase()
	clients, tokens := newClients(db), newTokens(db)
	root.AddCommand(newSay(srv), newChat(srv), newUsage(srv), clients, tokens)
	withoutServerFlags(root, clients, tokens)
	// Cobra adds these when it runs; added now, they are groups like the others. Its help
	// command printed the main help for a command that is none, and exited 0.
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		RunE: func(cmd *cobra.Command, args []string) error {
			target, rest, err := root.Find(args)
			if err != nil || len(rest) > 0 || (len(args) > 0 && target == root) {
				return usageError{fmt.Errorf("unknown help topic %q: `eliza help` lists the commands", strings.Join(args, " "))}
			}
			return target.Help()
		},
	})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	// Cobra's completion commands refuse an argument with an error of their own, which exited
	// 1 where every other argument too many exits 2.
	if completion, _, err := root.Find([]string{"completion"}); err == nil && completion != root {
		for _, shell := range completion.Commands() {
			shell.Args = withUsage(noArgs)
		}
	}
	refuseUnknownCommands(root)
	return root
}

func newSay(srv *server) *cobra.Command {
	return &cobra.Command{
		Use:   "say SENTENCE...",
		Short: "Print ELIZA's answer to each sentence, one line each",
		Long: "say sends each sentence to Say and prints the answer on a line of its own. " +
			"It stops at the first failure, with a one-line error and exit status 1.",
		Args: withUsage(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := srv.client()
			if err != nil {
				return err
			}
			for _, sentence := range args {
				if !utf8.ValidString(sentence) {
					return fmt.Errorf("%q: %w", sentence, errNotUTF8)
				}
				ctx, cancel := context.WithTimeout(cmd.Context(), sayTimeout)
				res, err := client.Say(ctx, connect.NewRequest(&elizav1.SayRequest{Sentence: sentence}))
				cancel()
				if err != nil {
					return describe(unanswered(err, sayTimeout, srv), srv)
				}
				fmt.Fprintln(cmd.OutOrStdout(), shown(res.Msg.GetSentence()))
			}
			return nil
		},
	}
}

// errNotUTF8 is a sentence that cannot be sent: the protocol carries text as UTF-8 (the request
// could not be encoded, which connect reports as an internal error, as if the server's).
var errNotUTF8 = errors.New("not UTF-8 text, which is all a sentence can be")

// sayTimeout and sendTimeout are how long say waits for the answer to a Say, and chat to a
// Send: a server that took the connection and never answered (frozen, or no front door) held
// them for ever, saying nothing. A front door answers a Say at once, and a Send within its
// bounds: a reservation round's 10 s, then ENQUEUE_TIMEOUT (at most 30 s) for the write, and
// as long again to settle a write that failed. Variables for the tests.
var (
	sayTimeout  = 30 * time.Second
	sendTimeout = 2 * time.Minute
)

// unanswered is err, or, when it is the call's own deadline of d running out, that the
// server at srv did not answer within d.
func unanswered(err error, d time.Duration, srv *server) error {
	if connect.CodeOf(err) == connect.CodeDeadlineExceeded && !connect.IsWireError(err) {
		return fmt.Errorf("no answer from %s within %v", srv.addr, d)
	}
	return err
}

// describe turns an RPC error into the line a person reads.
func describe(err error, srv *server) error {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return err
	}
	if ce.Code() == connect.CodeUnavailable {
		switch {
		case frontdoor.IsDraining(err):
			// Its message is advice to API clients on resuming, which chat does by itself.
			return fmt.Errorf("%s is shutting down", srv.addr)
		case connect.IsWireError(err):
			// The server answered, Unavailable: it is shutting down, or lacks a dependency.
			return fmt.Errorf("%s is unavailable: %s", srv.addr, ce.Message())
		}
		return fmt.Errorf("cannot reach %s: %s", srv.addr, ce.Message())
	}
	if !connect.IsWireError(err) && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
		// Connect names a response cut short a protocol error, internal, as if the server's.
		return fmt.Errorf("the connection to %s broke (%s)", srv.addr, ce.Message())
	}
	if ce.Code() == connect.CodeUnauthenticated && srv.bearer() == "" {
		// The server's advice is for API clients (which headers to send): eliza sends the
		// token it is given.
		return fmt.Errorf("%s: %s (give eliza one with --token or ELIZA_TOKEN)", ce.Code(), ce.Message())
	}
	return fmt.Errorf("%s: %s", ce.Code(), ce.Message())
}

// serverFlags are the root's flags that say which front door to call, and as whom.
var serverFlags = []string{"addr", "tls", "token"}

// withoutServerFlags makes the administration commands, and theirs, which reach Postgres and
// no front door, leave serverFlags out of their help and refuse them: their help listed them,
// and `eliza --addr prod:8080 clients list` listed the clients of DATABASE_URL's database.
func withoutServerFlags(root *cobra.Command, cmds ...*cobra.Command) {
	help := root.HelpFunc()
	for _, cmd := range cmds {
		cmd.SetHelpFunc(func(c *cobra.Command, args []string) {
			for _, name := range serverFlags {
				f := root.PersistentFlags().Lookup(name)
				f.Hidden = true
				defer func() { f.Hidden = false }()
			}
			help(c, args)
		})
		cmd.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
			for _, name := range serverFlags {
				if root.PersistentFlags().Lookup(name).Changed {
					return usageError{fmt.Errorf("--%s is for the commands that call a front door (say, chat, usage): %s works on the Postgres at DATABASE_URL", name, c.CommandPath())}
				}
			}
			return nil
		}
	}
}

// refuseUnknownCommands makes every command that only groups others (the root, clients,
// tokens, completion) refuse a word that names none of them, suggesting those it is near, and
// print its help when given none or "help". Cobra checks this only for the root, and not once
// the root traverses its children; without it, "eliza bogus" and "eliza clients bogus"
// printed the help and exited 0.
func refuseUnknownCommands(cmd *cobra.Command) {
	for _, sub := range cmd.Commands() {
		refuseUnknownCommands(sub)
	}
	if !cmd.HasSubCommands() || cmd.Runnable() {
		return
	}
	cmd.Args = cobra.ArbitraryArgs
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's own, which it sets only where it suggests
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 || args[0] == "help" {
			return cmd.Help()
		}
		err := fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())
		if near := cmd.SuggestionsFor(args[0]); len(near) > 0 {
			err = fmt.Errorf("%w\n\nDid you mean this?\n\t%s", err, strings.Join(near, "\n\t"))
		}
		return usageError{err}
	}
}

// noArgs refuses any argument, as one: cobra's own said "unknown command" of a word given to a
// command that takes none.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected argument %q: %s takes none", args[0], cmd.CommandPath())
	}
	return nil
}

// withUsage makes the argument count check's errors end with how the command is used: cobra's
// own ("accepts 2 arg(s), received 1") named no argument.
func withUsage(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{fmt.Errorf("%w (usage: %s)", err, strings.TrimSuffix(cmd.UseLine(), " [flags]"))}
		}
		return nil
	}
}
