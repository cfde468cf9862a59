package elizacli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/statedir"
)

// saved is the last conversation, as `chat --resume` finds it.
type saved struct {
	Conversation string `json:"conversation"`
	// Serial is the last event printed: a resume asks for those after it.
	Serial uint64 `json:"serial"`
	// Addr is the server it was held with.
	Addr string `json:"addr"`
	// Due are the jobs whose answers were still due: chat ended (Ctrl-C, or gave up waiting)
	// after their "enqueued" and before their answers, so a resume waits for them too.
	Due []string `json:"due,omitempty"`
}

// stateDir is where chat keeps what outlives it: $XDG_STATE_HOME/eliza, or
// ~/.local/state/eliza.
func stateDir() (string, error) {
	dir, err := statedir.Path("eliza")
	if err != nil {
		return "", fmt.Errorf("where to keep the conversation: %w", err)
	}
	return dir, nil
}

// statePath is the file of the last conversation held with token (as sent: server.bearer):
// conversation.json without one, and with one a file named by a digest of the token. Not
// the token, as file names are not secret; nor the digest the server keeps of it, which
// would tie the file to the token's row. A conversation started with a token is its
// client's, and any other caller is told it is unknown: one saved place for all tokens was
// forgotten as lost when chat resumed it with another, though its own token could still have
// resumed it.
func statePath(token string) (string, error) {
	dir, err := stateDir()
	if token == "" {
		return filepath.Join(dir, "conversation.json"), err
	}
	sum := sha256.Sum256([]byte("eliza chat place\x00" + token))
	return filepath.Join(dir, "conversation-"+hex.EncodeToString(sum[:8])+".json"), err
}

// historyPath is the file of the lines typed at the terminal, for line editing's history; its
// directory is made if missing.
func historyPath() (string, error) {
	dir, err := stateDir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("keep the history: %w", err)
	}
	return filepath.Join(dir, "history"), nil
}

// load reads the last conversation saved at path; ok is false when there is none.
func load(path string) (s saved, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return saved{}, false, nil
	} else if err != nil {
		return saved{}, false, fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &s); err != nil || s.Conversation == "" {
		return saved{}, false, fmt.Errorf("%s is not a saved conversation (delete it to start afresh)", path)
	}
	// Edited by hand, or written by something else: an id that is not one was sent to the
	// server, which refused it as InvalidArgument.
	if _, err := uuid.Parse(s.Conversation); err != nil {
		return saved{}, false, fmt.Errorf("%s is not a saved conversation: %q is not a conversation id (delete it to start afresh)", path, s.Conversation)
	}
	return s, true, nil
}

// store writes s at path, replacing the file whole so that a crash leaves the old or the new
// one. The new one is written to a file of its own first: two chats at once (two terminals) each
// replace it whole, the last one's staying. (With one temporary name they took each other's,
// and one failed: "rename …conversation.json.tmp: no such file or directory".)
func store(path string, s saved) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("keep the conversation: %w", err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp") // mode 0600
	if err != nil {
		return fmt.Errorf("keep the conversation: %w", err)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("keep the conversation: %w", err)
	}
	sweepOnce.Do(func() { sweep(path) })
	return nil
}

// unstore removes the conversation saved at path if it is conv; another is left as it is (a
// chat in another terminal saved it since), and so is a file that is not a saved conversation.
//
// Other chats may store at any moment, so it takes the file away first (a rename is atomic),
// then reads what it took: its own conversation is removed; another one is put back with a
// link, which fails if a chat stored meanwhile, whose newer place then stays. Reading and then
// removing the file, as it once did, removed a place another chat had stored in between. (The
// file taken is named apart from store's temporary files, which sweep removes by age: the
// rename keeps the saved file's time.)
func unstore(path, conv string) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.taken")
	if errors.Is(err, os.ErrNotExist) {
		return nil // no directory: nothing was ever saved
	} else if err != nil {
		return fmt.Errorf("forget the conversation: %w", err)
	}
	taken := f.Name()
	_ = f.Close()
	defer os.Remove(taken)
	if err := os.Rename(path, taken); errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("forget the conversation: %w", err)
	}
	if unstoreTaken != nil {
		unstoreTaken()
	}
	b, err := os.ReadFile(taken)
	var s saved
	if err == nil && json.Unmarshal(b, &s) == nil && s.Conversation == conv {
		return nil // it was this conversation's: the deferred Remove forgets it
	}
	err = link(taken, path)
	if err == nil || errors.Is(err, os.ErrExist) {
		return nil
	}
	// A file system without hard links: put it back by renaming, unless a chat has stored
	// since (a store in the moment between the two would be overwritten by this older place).
	if _, statErr := os.Lstat(path); errors.Is(statErr, os.ErrNotExist) {
		if err := os.Rename(taken, path); err != nil {
			return fmt.Errorf("keep the conversation saved by another chat: %w", err)
		}
	}
	return nil
}

// unstoreTaken, when set (by tests), runs in unstore between taking the file and deciding.
var unstoreTaken func()

// link is os.Link, which tests replace to play a file system without hard links.
var link = os.Link

// staleTemp is how old a temporary file of store must be for sweep to take it as left by a
// chat that was killed between writing it and renaming it: another chat's lives for a moment.
const staleTemp = time.Hour

var sweepOnce sync.Once

// sweep removes the temporary files of path that chats killed mid-store left behind, once per
// process.
func sweep(path string) {
	left, _ := filepath.Glob(path + ".*.tmp")
	for _, name := range left {
		if info, err := os.Stat(name); err == nil && time.Since(info.ModTime()) > staleTemp {
			_ = os.Remove(name)
		}
	}
}
