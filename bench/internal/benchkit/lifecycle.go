package benchkit

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// cleanupTime is what Finish gives a run's cleanup, after the run's own deadline if need be.
const cleanupTime = time.Minute

// Config is what Main needs of a harness's configuration.
type Config interface {
	// RunTimeout bounds the whole run (the -timeout flag); cleanup gets time of its own.
	RunTimeout() time.Duration
}

// Main is a harness's main function. It parses the command's arguments with parse, then calls
// run with a context that ends on SIGINT or SIGTERM or once the configuration's RunTimeout has
// passed, and a logger writing text to standard error. If either fails it prints
// "name: error" to standard error and exits with status 1; -h (parse returning flag.ErrHelp,
// after the usage was printed) is not a failure.
func Main[C Config](name string, parse func(args []string) (C, error), run func(context.Context, *slog.Logger, C) error) {
	if err := start(parse, run); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// start is Main but for the exit.
func start[C Config](parse func(args []string) (C, error), run func(context.Context, *slog.Logger, C) error) error {
	cfg, err := parse(os.Args[1:])
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.RunTimeout())
	defer cancel()
	return run(ctx, slog.New(slog.NewTextHandler(os.Stderr, nil)), cfg)
}

// Outcome is how a run ended, and what Finish needs to wrap it up.
type Outcome struct {
	// Err is the run's error; nil if it measured everything.
	Err error
	// Cleanup deletes what the run created (rows, topics, groups). Finish calls it whatever
	// happened, once every process of the run has stopped.
	Cleanup func(context.Context) error
	// Dir is the run's working directory (binaries, processes' logs): removed after a run
	// that succeeded, kept for a look after one that failed. Empty: none.
	Dir string
	// Out, if set, is a file that receives the report too (the -out flag).
	Out string
	// Report writes the report; called only if the run succeeded.
	Report func(io.Writer)
	// Figures, if set, are the report's plots: with Out set, each is written as a PNG next to
	// it, and the report ends with them.
	Figures func() []Figure
}

// Finish ends a run: it cleans up, with a minute of its own even if ctx has ended, then
// either logs where the failed run's logs are kept, or removes the working directory and
// prints the report to standard output (after a blank line that sets it apart from the log)
// and to Out. It returns the run's and the cleanup's errors.
func Finish(ctx context.Context, log *slog.Logger, o Outcome) error {
	cleanupCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTime)
	defer cancel()
	cleanErr := o.Cleanup(cleanupCtx)
	if o.Err != nil {
		log.Error("run failed; the processes' logs are kept", "dir", o.Dir)
		return errors.Join(o.Err, cleanErr)
	}
	if o.Dir != "" {
		_ = os.RemoveAll(o.Dir)
	}
	out, closeOut, err := reportWriter(o.Out)
	if err != nil {
		return errors.Join(fmt.Errorf("-out: %w", err), cleanErr)
	}
	defer closeOut()
	fmt.Fprintln(os.Stdout)
	o.Report(out)
	if o.Figures == nil {
		return cleanErr
	}
	if o.Out == "" {
		log.Info("plots not written: they go next to the report, and there is no -out")
		return cleanErr
	}
	names, err := writeFigures(o.Out, o.Figures())
	if len(names) > 0 {
		fmt.Fprintf(out, "\n### Plots\n\n")
		for _, name := range names {
			fmt.Fprintf(out, "![%s](%s)\n\n", strings.TrimSuffix(name, ".png"), name)
		}
	}
	return errors.Join(err, cleanErr)
}

// reportWriter returns the writer the report goes to: standard output and, when path is not
// empty, also the file at path, created or truncated. Call closeFile once the report is
// written.
func reportWriter(path string) (w io.Writer, closeFile func(), err error) {
	if path == "" {
		return os.Stdout, func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	return io.MultiWriter(os.Stdout, f), func() { _ = f.Close() }, nil
}
