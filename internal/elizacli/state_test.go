package elizacli

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Two chats at once (two terminals) each keep their place: every store succeeds, the file
// holds one of them whole, and no temporary file is left. Before, they shared one temporary
// name, and one failed to rename what the other had renamed already.
func TestStore_ChatsAtOnceEachReplaceTheFileWhole(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", dir)
	var wg sync.WaitGroup
	errs := make(chan error, 8*50)
	for i := range 8 {
		wg.Go(func() {
			for n := range 50 {
				errs <- store(savedAt(), saved{Conversation: convID(i), Serial: uint64(n), Addr: "localhost:8080"})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	path, err := statePath("")
	if err != nil {
		t.Fatal(err)
	}
	s, ok, err := load(savedAt())
	if err != nil || !ok || s.Serial != 49 {
		t.Fatalf("the file holds %+v (%v, %v), want one chat's last place", s, ok, err)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.tmp"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the file's mode: %v %v, want 0600", info, err)
	}
}

// A temporary file left by a chat killed between writing it and renaming it is removed by a
// later chat's first store, once it is old enough not to be another chat's at work.
func TestStore_RemovesTheTemporaryFilesOfChatsKilledMidStore(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	path, err := statePath("")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	stale, fresh := path+".123.tmp", path+".456.tmp"
	for _, name := range []string{stale, fresh} {
		if err := os.WriteFile(name, []byte(`{"conversation":"x"`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * staleTemp)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	sweepOnce = sync.Once{}
	if err := store(savedAt(), saved{Conversation: "conversation", Serial: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the stale temporary file: %v, want it removed", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("the fresh temporary file (another chat's, at work): %v, want it kept", err)
	}
}

// Forgetting a lost conversation leaves any other conversation saved, also one a chat in
// another terminal stores while it decides. Before, it read the file, then removed it: a place
// stored in between was lost.
func TestUnstore_LeavesAnotherChatsPlace(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	lost, other, newer := convID(1), convID(2), convID(3)
	check := func(when string, want string) {
		t.Helper()
		s, ok, err := load(savedAt())
		if want == "" && (ok || err != nil) || want != "" && (!ok || err != nil || s.Conversation != want) {
			t.Fatalf("%s: saved %+v (%t, %v), want %q", when, s, ok, err, want)
		}
		path, _ := statePath("")
		if left, _ := filepath.Glob(path + ".*.*"); len(left) != 0 {
			t.Fatalf("%s: temporary files left: %v", when, left)
		}
	}
	if err := unstore(savedAt(), lost); err != nil {
		t.Fatalf("with nothing saved: %v", err)
	}
	mustStore := func(conv string) {
		t.Helper()
		if err := store(savedAt(), saved{Conversation: conv, Addr: "localhost:8080"}); err != nil {
			t.Fatal(err)
		}
	}
	mustStore(lost)
	if err := unstore(savedAt(), lost); err != nil {
		t.Fatal(err)
	}
	check("its own", "")
	mustStore(other)
	if err := unstore(savedAt(), lost); err != nil {
		t.Fatal(err)
	}
	check("another's", other)

	// On a file system without hard links, another's place is put back by renaming it.
	link = func(string, string) error { return &os.LinkError{Op: "link", Err: syscall.EPERM} }
	defer func() { link = os.Link }()
	mustStore(other)
	if err := unstore(savedAt(), lost); err != nil {
		t.Fatal(err)
	}
	check("another's, without hard links", other)
	link = os.Link

	unstoreTaken = func() { mustStore(newer) }
	defer func() { unstoreTaken = nil }()
	for _, conv := range []string{lost, other} {
		mustStore(conv)
		if err := unstore(savedAt(), lost); err != nil {
			t.Fatal(err)
		}
		check("a place stored while it decided, over "+conv, newer)
	}
}

// savedAt is where chat saves the conversation of a caller without a token, under the
// XDG_STATE_HOME the test set.
func savedAt() string {
	path, err := statePath("")
	if err != nil {
		panic(err)
	}
	return path
}

// A relative XDG_STATE_HOME is ignored (the XDG base directory specification): the state goes
// under the home directory, not under wherever chat was started.
func TestStatePath_IgnoresARelativeXDGStateHome(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_STATE_HOME", "relative/dir")
	got, err := statePath("")
	if want := filepath.Join(home, ".local", "state", "eliza", "conversation.json"); err != nil || got != want {
		t.Errorf("statePath = %q, %v; want %q", got, err, want)
	}
}

// A saved place whose id is not a conversation id (a file edited by hand) is said to be no
// saved conversation, naming the file, before anything is sent: the id went to the server,
// which refused it as InvalidArgument.
func TestLoad_ASavedIdThatIsNotOneIsRefusedNamingTheFile(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	if err := os.MkdirAll(filepath.Dir(savedAt()), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(savedAt(), []byte(`{"conversation":"not-an-id","serial":2}`), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFake()
	r := start(f.start(t), strings.NewReader(""), "chat", "--resume")
	want := savedAt() + ` is not a saved conversation: "not-an-id" is not a conversation id`
	if code := r.wait(t); code != 1 || !strings.Contains(r.err.String(), want) {
		t.Fatalf("exit status %d, printed:\n%s%s\nwant 1 and %q", code, r.out, r.err, want)
	}
	if got := f.sends(); len(got) != 0 {
		t.Fatalf("sent %q, want nothing", got)
	}
}
