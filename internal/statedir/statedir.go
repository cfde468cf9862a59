// Package statedir says where the binaries keep what outlives a run on the machine they run
// on: the XDG base directory specification's state home, $XDG_STATE_HOME, or
// ~/.local/state. The eliza CLI keeps its conversations' places there, and standalone its
// embedded broker's data when it has a database.
package statedir

import (
	"fmt"
	"os"
	"path/filepath"
)

// Variable is the environment variable Path reads, and DefaultHome the state home without
// it, as a binary's -h lists them.
const (
	Variable    = "XDG_STATE_HOME"
	DefaultHome = "~/.local/state"
)

// Path returns name under the state home. A relative XDG_STATE_HOME is ignored, as the
// specification asks: it would put the state wherever the binary happened to be started.
func Path(name string) (string, error) {
	dir := os.Getenv("XDG_STATE_HOME")
	if !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no state home: %w", err)
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, name), nil
}
