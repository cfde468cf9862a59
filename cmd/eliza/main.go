// Command eliza is a client of the front door for people at a terminal: `eliza chat` holds a
// queued conversation (resumable, reconnecting), `eliza say` answers sentences for scripts.
// See internal/elizacli, and `eliza -h`.
package main

import (
	"os"

	"github.com/beacon/eventdispatch/internal/elizacli"
)

func main() { os.Exit(elizacli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
