package app

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/beacon/eventdispatch/internal/config"
	"github.com/beacon/eventdispatch/internal/statedir"
)

// readDirectly lists, by binary, the variables it reads outside its settings, as the packages
// that read them (internal/statedir) say.
var readDirectly = map[string][]config.Variable{
	"standalone": {{Name: statedir.Variable, Default: statedir.DefaultHome}},
}

// Usage answers a binary's command-line arguments, which none of the services takes: they
// read their configuration from the environment. With no argument it returns done false, and
// the binary runs. -h, -help, --help or help print what the binary reads, each variable with
// its default, and return done true: the binary exits 0 without starting. Anything else is an
// error, so that `migrate down` or `dispatcher --grace 5s` does not run as if unsaid.
func Usage(name string, settings any, args []string, out io.Writer) (done bool, err error) {
	if len(args) == 0 {
		return false, nil
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprintf(out, "Usage: %s\n\n%s takes no arguments. It reads these environment variables (the README's\nConfiguration table says what each means); an empty value counts as unset:\n\n", name, name)
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "  VARIABLE\tDEFAULT")
		for _, v := range append(config.Variables(settings), readDirectly[name]...) {
			def := v.Default
			if def == "" {
				def = "(unset)"
			}
			fmt.Fprintf(w, "  %s\t%s\n", v.Name, def)
		}
		return true, w.Flush()
	}
	return false, fmt.Errorf("%w, got %q: it reads its configuration from the environment (%s -h lists the variables)", ErrUsage, args, name)
}

// ErrUsage is Usage's error for arguments a binary does not take: a mistake in the command,
// which exits 2 (ExitCode), as Go's flag package and most commands do.
var ErrUsage = errors.New("takes no arguments")

// ExitCode is the exit status of a binary that stopped with err (not nil): 2 for a command
// used wrongly (ErrUsage), 1 for anything else.
func ExitCode(err error) int {
	if errors.Is(err, ErrUsage) {
		return 2
	}
	return 1
}
